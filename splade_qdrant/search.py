"""Search: query text → query encoder → sparse (or dense, or fused) query → hits.

A :class:`Searcher` is bound to one collection. By default it loads the query encoder the
collection's fingerprint recorded; passing another model is refused unless
``allow_model_mismatch=True``.

In a collection ingested with ``long_docs="chunk"`` (one point per window of a document),
hits are grouped by document: each document appears once, with its best window's score and
payload (the window's ``chunk`` span says where in the document it matched). Qdrant Edge has
no group-by API, so the searcher over-fetches points and keeps each document's first (best)
one, fetching more until the page is full — the same result as Qdrant's group-by with one
point per group, on both stores.

Example:
    >>> searcher = Searcher(open_store("./splade_qdrant_data"), "cran")  # doctest: +SKIP
    >>> [h.id for h in searcher.search("wing slipstream", limit=3)]  # doctest: +SKIP
    ['1', '2', '12']
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from . import fingerprint
from .config import DEFAULT_LIMIT
from .dense import DenseEncoder, DenseEncoderLike, check_dense_vector
from .encoder import SpladeEncoder
from .errors import ConfigError, InputError
from .explain import explain_match
from .fusion import DEFAULT_RRF_K, engine_rrf_k
from .hits import ScoreBreakdown, SearchHit, hit_from_point
from .options import (
    MAX_PAGE,
    check_device_available,
    check_device_name,
    check_int,
    check_number,
    check_search_options,
    resolve_query_settings,
)
from .sparse import SparseVector
from .store.base import (
    DenseQuery,
    Filter,
    FusedQuery,
    Query,
    SparseQuery,
    Store,
    StoredPoint,
)

__all__ = ["DEFAULT_LIMIT", "DEFAULT_RRF_K", "MAX_PAGE", "FusionMethod", "Mode", "SearchHit", "Searcher", "is_searchable"]

logger = logging.getLogger(__name__)

#: Each side of a hybrid query fetches max(PREFETCH_FACTOR × (limit + offset), MIN_PREFETCH).
PREFETCH_FACTOR = 4
MIN_PREFETCH = 100
#: Chunked collections: points fetched per wanted document, multiplied again until enough
#: distinct documents are found (or the ranking is exhausted).
GROUP_FACTOR = 4

Mode = Literal["sparse", "dense", "hybrid"]
FusionMethod = Literal["rrf", "dbsf"]


class Searcher:
    """Searches one collection with its recorded query encoder (and dense encoder, if any).

    Args:
        store: the store holding ``collection``.
        collection: collection name.
        query_encoder: an already loaded SPLADE query encoder (checked against the fingerprint).
        query_model: load this model instead of the recorded one (checked likewise).
        query_max_length: override the recorded query max length.
        dense_encoder: dense encoder for dense/hybrid modes (default: the recorded one, loaded
            on first use).
        device: where the encoders run.
        allow_model_mismatch: accept a query model other than the recorded one.
    """

    def __init__(
        self,
        store: Store,
        collection: str,
        *,
        query_encoder: SpladeEncoder | None = None,
        query_model: str | None = None,
        query_max_length: int | None = None,
        query_top_k: int | None = None,
        query_threshold: float | None = None,
        dense_encoder: DenseEncoderLike | None = None,
        device: str | None = None,
        half: bool = False,
        allow_model_mismatch: bool = False,
    ) -> None:
        if query_encoder is not None and query_model is not None:
            raise ConfigError("give query_encoder or query_model, not both")
        check_device_name(device)
        self.store = store
        self.collection = collection
        self.spec = store.spec(collection)
        recorded = self.spec.metadata
        given = {"max_length": query_max_length, "top_k": query_top_k, "threshold": query_threshold}
        for key, value in given.items():
            if key == "threshold":
                check_number(f"query_{key}", value, minimum=0, optional=True)
            else:
                check_int(f"query_{key}", value, minimum=1, optional=True)
        settings = resolve_query_settings(recorded.get("query"), given)
        if query_encoder is None:
            model = query_model or fingerprint.recorded_query_model(recorded)[0]
            if not model:
                raise ConfigError(f"collection {collection!r} records no query encoder; pass query_model")
            check_device_available(device)
            query_encoder = SpladeEncoder.from_pretrained(
                model, side="query", device=device, half=half, max_length=settings["max_length"], top_k=settings["top_k"],
                threshold=settings["threshold"], long_docs="truncate",
            )
        else:
            fingerprint.check_query_settings(recorded, fingerprint.encoder_settings(query_encoder), collection=collection)
        if not allow_model_mismatch:
            fingerprint.check_query_model(recorded, fingerprint.encoder_settings(query_encoder), collection=collection)
        self.encoder = query_encoder
        self._dense = dense_encoder
        self._device = device

    @property
    def has_dense(self) -> bool:
        """True if the collection stores dense vectors."""
        return self.spec.dense is not None

    def dense_encoder(self) -> DenseEncoderLike:
        """The dense encoder (the recorded one, loaded on first use)."""
        if self.spec.dense is None:
            raise ConfigError(f"collection {self.collection!r} has no dense vectors; ingest with a dense model for dense or hybrid search")
        if self._dense is None:
            recorded = self.spec.metadata.get("dense") or {}
            model = recorded.get("model")
            if not model or model == "precomputed":
                raise ConfigError("this collection's dense vectors were supplied by the caller: pass dense_vector(s) to search")
            self._dense = DenseEncoder(model, distance=self.spec.dense.distance, device=self._device)
        return self._dense

    def encode(self, queries: Sequence[str]) -> list[SparseVector]:
        """SPLADE query vectors for texts; logs a warning when a query was longer than the
        query encoder's window and was truncated (the collection's recorded query max length)."""
        before = self.encoder.long_texts
        vectors = self.encoder.encode(list(queries))
        truncated = self.encoder.long_texts - before
        if truncated > 0:
            logger.warning(
                "%d of %d queries were longer than the query encoder's %d tokens (query max_length recorded by collection %r) "
                "and were truncated",
                truncated, len(queries), self.encoder.max_length, self.collection,
            )
        return vectors

    def _dense_vectors(self, queries: Sequence[str], given: Sequence[Any] | None) -> list[np.ndarray]:
        if self.spec.dense is None:
            raise ConfigError(f"collection {self.collection!r} has no dense vectors; use mode='sparse'")
        if given is not None:
            if len(given) != len(queries):
                raise ConfigError(f"got {len(given)} dense vectors for {len(queries)} queries")
            return [check_dense_vector(v, self.spec.dense.size, what="query dense vector") for v in given]
        return list(self.dense_encoder().encode(list(queries)))

    def search_batch(
        self,
        queries: Sequence[str],
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        score_threshold: float | None = None,
        filter: Filter | None = None,
        mode: Mode = "sparse",
        fusion: FusionMethod = "rrf",
        rrf_k: int = DEFAULT_RRF_K,
        weights: Sequence[float] | None = None,
        prefetch_limit: int | None = None,
        explain: bool = False,
        breakdown: bool = False,
        dense_vectors: Sequence[Any] | None = None,
    ) -> list[list[SearchHit]]:
        """Search several query texts; one hit list per query, in order.

        Args:
            queries: query texts.
            limit, offset: page of hits to return (default 10 from 0).
            score_threshold: drop hits scoring below this (the fused score in hybrid mode).
            filter: ``{"key": value}`` / ``{"key": [v1, v2]}`` or a native Qdrant filter;
                in hybrid mode it applies to both sides.
            mode: ``"sparse"`` (SPLADE), ``"dense"`` or ``"hybrid"`` (both, fused in the engine).
            fusion: ``"rrf"`` or ``"dbsf"`` (hybrid).
            rrf_k: RRF constant with ranks from 1: score = Σ 1 / (rrf_k + rank) (default 60).
            weights: per-side weights (sparse, dense) for RRF; a weight divides the rank.
            prefetch_limit: candidates per side (default max(4 × (limit + offset), 100)).
            explain: attach the matching SPLADE terms and their contributions.
            breakdown: attach each side's rank and score (hybrid).
            dense_vectors: caller-computed dense query vectors instead of the dense encoder.
        """
        queries = _check_queries(queries)
        check_search_options(limit=limit, offset=offset, score_threshold=score_threshold, prefetch_limit=prefetch_limit,
                             fusion=fusion, rrf_k=rrf_k, weights=weights)
        if mode not in ("sparse", "dense", "hybrid"):
            raise ConfigError(f"mode must be sparse, dense or hybrid, got {mode!r}")
        if breakdown and mode != "hybrid":
            raise ConfigError("breakdown applies to hybrid search (mode='hybrid')")
        filter = _normalise_filter(filter)
        if dense_vectors is not None and len(dense_vectors) != len(queries):
            raise ConfigError(f"got {len(dense_vectors)} dense vectors for {len(queries)} queries")
        keep = [i for i, q in enumerate(queries) if is_searchable(q) or (mode == "dense" and dense_vectors is not None)]
        if len(keep) < len(queries):
            logger.warning(
                "%d of %d queries have no letters or digits (empty, whitespace or punctuation only): no hits for them",
                len(queries) - len(keep), len(queries),
            )
        if not keep:
            return [[] for _ in queries]
        if len(keep) < len(queries):
            kept = self.search_batch(
                [queries[i] for i in keep], limit=limit, offset=offset, score_threshold=score_threshold, filter=filter,
                mode=mode, fusion=fusion, rrf_k=rrf_k, weights=weights, prefetch_limit=prefetch_limit, explain=explain,
                breakdown=breakdown, dense_vectors=None if dense_vectors is None else [dense_vectors[i] for i in keep],
            )
            out: list[list[SearchHit]] = [[] for _ in queries]
            for i, hits in zip(keep, kept):
                out[i] = hits
            return out
        sparse = self.encode(queries) if mode != "dense" or explain else None
        dense = self._dense_vectors(queries, dense_vectors) if mode != "sparse" else None
        pl = prefetch_limit or max(PREFETCH_FACTOR * (limit + offset), MIN_PREFETCH)
        sparse_name, dense_name = self.spec.sparse_name, self.spec.dense.name if self.spec.dense else ""
        built: list[Query] = []
        for i in range(len(queries)):
            sq = SparseQuery(sparse[i], sparse_name) if sparse is not None else None
            dq = DenseQuery(dense[i], dense_name) if dense is not None else None
            if mode == "sparse":
                built.append(sq)  # type: ignore[arg-type]
            elif mode == "dense":
                built.append(dq)  # type: ignore[arg-type]
            else:
                built.append(FusedQuery([sq, dq], fusion, pl, engine_rrf_k(rrf_k), weights))  # type: ignore[list-item]
        if fingerprint.is_chunked(self.spec.metadata):
            results = self._best_chunk_per_document(
                built, limit=limit, offset=offset, score_threshold=score_threshold, filter=filter, with_vectors=explain
            )
        else:
            results = self.store.query_batch(
                self.collection, built, limit=limit, offset=offset, score_threshold=score_threshold, filter=filter, with_vectors=explain
            )
        sides: list[tuple[dict[str, tuple[int, float]], dict[str, tuple[int, float]]]] = []
        if breakdown:
            side_queries: list[Query] = []
            for q in built:
                side_queries.extend(q.prefetch)  # type: ignore[union-attr]
            side_results = self.store.query_batch(self.collection, side_queries, limit=pl, filter=filter)
            for i in range(len(built)):
                s_rows, d_rows = side_results[2 * i], side_results[2 * i + 1]
                sides.append((
                    {p.id: (r, p.score) for r, p in enumerate(s_rows, start=1)},
                    {p.id: (r, p.score) for r, p in enumerate(d_rows, start=1)},
                ))
        out: list[list[SearchHit]] = []
        for i, rows in enumerate(results):
            hits = []
            for p in rows:
                bd = None
                if breakdown:
                    s_rank, s_score = sides[i][0].get(p.id, (None, None))
                    d_rank, d_score = sides[i][1].get(p.id, (None, None))
                    bd = ScoreBreakdown(p.score, s_rank, s_score, d_rank, d_score)
                expl = None
                if explain:
                    doc_vec = p.sparse if p.sparse is not None else SparseVector.empty()
                    expl = tuple(explain_match(sparse[i], doc_vec, self.encoder.decode))  # type: ignore[index]
                hits.append(hit_from_point(p, bd, expl))
            out.append(hits)
        return out

    def _best_chunk_per_document(
        self, built: Sequence[Query], *, limit: int, offset: int, score_threshold: float | None, filter: Filter | None, with_vectors: bool
    ) -> list[list[StoredPoint]]:
        """Per query, the page ``[offset, offset + limit)`` of documents ranked by their best point."""
        want = limit + offset
        fetch = GROUP_FACTOR * want
        results: list[list[StoredPoint]] = [[] for _ in built]
        pending = list(range(len(built)))
        while pending:
            rows_per_query = self.store.query_batch(
                self.collection, [built[i] for i in pending], limit=fetch, score_threshold=score_threshold, filter=filter,
                with_vectors=with_vectors,
            )
            still = []
            for i, rows in zip(pending, rows_per_query):
                best = _first_per_document(rows)
                if len(best) >= want or len(rows) < fetch:  # page full, or nothing more to fetch
                    results[i] = best[offset:want]
                else:
                    still.append(i)
            pending, fetch = still, fetch * GROUP_FACTOR
        return results

    def search(
        self,
        query: str,
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        score_threshold: float | None = None,
        filter: Filter | None = None,
        mode: Mode = "sparse",
        fusion: FusionMethod = "rrf",
        rrf_k: int = DEFAULT_RRF_K,
        weights: Sequence[float] | None = None,
        prefetch_limit: int | None = None,
        explain: bool = False,
        breakdown: bool = False,
        dense_vector: Any = None,
    ) -> list[SearchHit]:
        """Search one query text; hits best first. Arguments as in :meth:`search_batch`;
        ``dense_vector`` is a caller-computed dense query vector (dense/hybrid modes)."""
        if not isinstance(query, str):
            raise InputError(f"query must be a string, got {type(query).__name__}: {query!r:.60}")
        return self.search_batch(
            [query], limit=limit, offset=offset, score_threshold=score_threshold, filter=filter, mode=mode, fusion=fusion,
            rrf_k=rrf_k, weights=weights, prefetch_limit=prefetch_limit, explain=explain, breakdown=breakdown,
            dense_vectors=None if dense_vector is None else [dense_vector],
        )[0]


def is_searchable(query: str) -> bool:
    """True if ``query`` has a letter or digit (empty, whitespace and punctuation-only queries
    would otherwise return arbitrary hits).

    >>> is_searchable("wing flow"), is_searchable("  ?! "), is_searchable("")
    (True, False, False)
    """
    return any(ch.isalnum() for ch in query)


def _check_queries(queries: Any) -> list[str]:
    if isinstance(queries, str) or not isinstance(queries, Sequence):
        raise InputError(f"search_batch expects a list of query strings (use search() for one), got {type(queries).__name__}")
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise InputError(f"query {i} must be a string, got {type(q).__name__}: {q!r:.60}")
    return list(queries)


def _normalise_filter(filt: Filter | None) -> Filter | None:
    """``doc_id`` is always stored as a string: integer ids in a simple filter compare as strings."""
    if not isinstance(filt, Mapping) or "doc_id" not in filt:
        return filt
    value = filt["doc_id"]
    as_str = (lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
    fixed = [as_str(v) for v in value] if isinstance(value, (list, tuple)) else as_str(value)
    return {**filt, "doc_id": fixed}


def _first_per_document(rows: Sequence[StoredPoint]) -> list[StoredPoint]:
    """Each document's first point in a ranked list (its best-scoring chunk), in rank order."""
    seen: set[str] = set()
    out = []
    for p in rows:
        doc = str(p.payload.get("doc_id", p.id))
        if doc not in seen:
            seen.add(doc)
            out.append(p)
    return out

