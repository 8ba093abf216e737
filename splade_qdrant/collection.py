"""The one-object API: a SPLADE collection in a Qdrant store.

Example:
    >>> from splade_qdrant import SpladeQdrant
    >>> sq = SpladeQdrant("cran", store="./data", model="../shared/models/splade-tiny")  # doctest: +SKIP
    >>> sq.ingest("../shared/datasets/cranfield/corpus.jsonl").points_in_collection  # doctest: +SKIP
    1400
    >>> sq.search("slipstream effects on wings", limit=3)[0].id  # doctest: +SKIP
    '1'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DOC_MAX_LENGTH,
    DEFAULT_LIMIT,
    DEFAULT_LONG_DOCS,
    LongDocs,
    resolve_preset,
)
from .errors import ConfigError, InputError, StoreUnavailableError
from .fusion import DEFAULT_RRF_K
from .options import EncoderOptions
from .store import Store, open_store
from .store.base import Filter, SparseDatatype

if TYPE_CHECKING:  # the encoders (torch) load on first use, not on import
    from .dense import DenseEncoderLike
    from .documents import DocumentLike
    from .ingest import IngestReport
    from .pair import EncoderPair
    from .search import FusionMethod, Mode, Searcher, SearchHit

__all__ = ["DeleteReport", "SpladeQdrant"]

#: Document ids looked up and deleted per store call.
_DELETE_BATCH = 256


@dataclass
class DeleteReport:
    """What :meth:`SpladeQdrant.delete` did: documents deleted (with all their points) and ids not found."""

    collection: str
    requested: int = 0
    deleted: int = 0
    points_deleted: int = 0
    not_found: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection, "requested": self.requested, "deleted": self.deleted,
            "points_deleted": self.points_deleted, "not_found": list(self.not_found),
        }

    def summary(self) -> str:
        line = f"collection {self.collection!r}: {self.deleted} of {self.requested} documents deleted ({self.points_deleted} points)"
        if self.not_found:
            shown = ", ".join(repr(i) for i in self.not_found[:10])
            more = f" and {len(self.not_found) - 10} more" if len(self.not_found) > 10 else ""
            line += f"; {len(self.not_found)} not found: {shown}{more}"
        return line


class SpladeQdrant:
    """Ingest into and search one collection.

    Encoders load lazily: searching loads only the (recorded) query encoder, ingesting loads
    the pair; importing this module and :meth:`info`, :meth:`list_collections`, :meth:`drop`
    never import torch. Options not given take the library defaults, except the query
    settings, which default to what the collection recorded. :meth:`close` is final.

    Args:
        collection: collection name.
        store: embedded store directory, or ``":memory:"``; see :func:`~splade_qdrant.store.open_store`.
        url, api_key, prefer_grpc: a Qdrant server instead of the embedded store.
        options: all encoder options as one :class:`~splade_qdrant.options.EncoderOptions`
            (instead of the individual ones below).
        model, doc_model, query_model: preset name, Hub id or directory (see :class:`EncoderPair`).
        doc_max_length: document token budget ([CLS]/[SEP] included, default 256).
        query_max_length: query token budget (default: recorded by the collection, else 64).
        long_docs: ``"first-plus"`` (default), ``"window"``, ``"chunk"`` or ``"truncate"``.
        window_overlap: tokens shared by consecutive windows (default: a quarter window).
        doc_top_k, doc_threshold: optional document pruning.
        query_top_k, query_threshold: optional query pruning (default: recorded, else none).
        batch_size: sequences per forward pass.
        device, half: where and how encoders run.
        dense_model: sentence-transformers id / directory or a :class:`DenseEncoder` for
            hybrid collections (ingest stores both vectors; search uses the recorded one if None).
        allow_model_mismatch: search with a query model other than the recorded one.
    """

    def __init__(
        self,
        collection: str,
        *,
        store: str | os.PathLike[str] | Store | None = None,
        url: str | None = None,
        api_key: str | None = None,
        prefer_grpc: bool = False,
        options: EncoderOptions | None = None,
        model: str | None = None,
        doc_model: str | None = None,
        query_model: str | None = None,
        doc_max_length: int = DEFAULT_DOC_MAX_LENGTH,
        query_max_length: int | None = None,
        long_docs: LongDocs = DEFAULT_LONG_DOCS,
        window_overlap: int | None = None,
        doc_top_k: int | None = None,
        doc_threshold: float | None = None,
        query_top_k: int | None = None,
        query_threshold: float | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | None = None,
        half: bool = False,
        dense_model: str | os.PathLike[str] | DenseEncoderLike | None = None,
        allow_model_mismatch: bool = False,
    ) -> None:
        if not isinstance(collection, str) or not collection.strip():
            raise ConfigError(f"collection must be a non-empty string, got {collection!r}")
        given = EncoderOptions(
            model=model, doc_model=doc_model, query_model=query_model, doc_max_length=doc_max_length,
            query_max_length=query_max_length, long_docs=long_docs, window_overlap=window_overlap, doc_top_k=doc_top_k,
            doc_threshold=doc_threshold, query_top_k=query_top_k, query_threshold=query_threshold, batch_size=batch_size,
            device=device, half=half,
        )
        if options is not None:
            if not isinstance(options, EncoderOptions):
                raise ConfigError(f"options must be an EncoderOptions, got {type(options).__name__}")
            if given != EncoderOptions():
                raise ConfigError("give options=EncoderOptions(...) or individual encoder options, not both")
            given = options
        self.collection = collection
        self.options = given
        self.store = store if isinstance(store, Store) else open_store(store, url=url, api_key=api_key, prefer_grpc=prefer_grpc)
        self._dense_arg = dense_model
        self._dense: DenseEncoderLike | None = None
        self._allow_mismatch = allow_model_mismatch
        self._pair: EncoderPair | None = None
        self._searcher: Searcher | None = None
        self._closed = False

    def _open(self) -> None:
        if self._closed:
            raise StoreUnavailableError(
                f"SpladeQdrant({self.collection!r}) is closed (close() is final); create a new SpladeQdrant to use the store again"
            )

    def _recorded(self) -> Mapping[str, Any] | None:
        """The collection's fingerprint, or None if it does not exist yet."""
        return self.store.metadata(self.collection) if self.store.collection_exists(self.collection) else None

    @property
    def pair(self) -> EncoderPair:
        """The encoder pair (loaded on first use; query settings not given take the recorded ones)."""
        self._open()
        if self._pair is None:
            from .pair import EncoderPair

            self._pair = EncoderPair.from_options(self.options, recorded=self._recorded())
        return self._pair

    @property
    def dense(self) -> DenseEncoderLike | None:
        """The dense encoder given to the constructor (loaded on first use), or None."""
        self._open()
        if self._dense is None and self._dense_arg is not None:
            from .dense import DenseEncoder

            arg = self._dense_arg
            self._dense = DenseEncoder(os.fspath(arg), device=self.options.device) if isinstance(arg, (str, os.PathLike)) else arg
        return self._dense

    @property
    def searcher(self) -> Searcher:
        """The searcher bound to this collection (loaded on first use).

        Queries are encoded as the collection's fingerprint recorded (model, max length,
        pruning); an explicit query option that differs is refused.
        """
        self._open()
        if self._searcher is None:
            from .search import Searcher

            opts = self.options
            if self._pair is not None:
                self._searcher = Searcher(
                    self.store, self.collection, query_encoder=self._pair.query, dense_encoder=self.dense,
                    allow_model_mismatch=self._allow_mismatch,
                )
            else:
                query_model = opts.query_model or (resolve_preset(opts.model)[1] if opts.model else None)
                self._searcher = Searcher(
                    self.store, self.collection, query_model=query_model, query_max_length=opts.query_max_length,
                    query_top_k=opts.query_top_k, query_threshold=opts.query_threshold, dense_encoder=self.dense,
                    device=opts.device, half=opts.half, allow_model_mismatch=self._allow_mismatch,
                )
        return self._searcher

    def ingest(
        self,
        documents: Iterable[DocumentLike] | str | os.PathLike[str],
        *,
        store_text: bool = False,
        insert_only: bool = False,
        skip_unchanged: bool = True,
        skip_bad: bool = False,
        delete_missing: bool = False,
        sparse_datatype: SparseDatatype | None = None,
        allow_idf: bool | None = None,
        chunk_size: int | None = None,
        upsert_batch: int | None = None,
        optimize: bool = True,
        show_progress: bool | None = None,
    ) -> IngestReport:
        """Encode and upsert documents (see :func:`splade_qdrant.ingest.ingest` for each option;
        ``chunk_size`` / ``upsert_batch`` None take its defaults).

        ``documents`` is a path to a JSONL / BEIR corpus or an iterable of documents (dicts
        with ``_id``/``id`` and ``text``, ``(id, text[, metadata])`` tuples or Documents).
        """
        self._open()
        _check_documents_arg(documents)
        from .documents import check_source
        from .ingest import DEFAULT_CHUNK_SIZE, DEFAULT_UPSERT_BATCH, ingest

        if isinstance(documents, (str, os.PathLike)):
            check_source(documents, skip_bad=skip_bad)  # before the encoders load
        report = ingest(
            self.store, self.collection, documents, pair=self.pair, dense=self.dense, store_text=store_text,
            insert_only=insert_only, skip_unchanged=skip_unchanged, skip_bad=skip_bad, delete_missing=delete_missing,
            sparse_datatype=sparse_datatype, allow_idf=allow_idf, optimize=optimize, show_progress=show_progress,
            chunk_size=DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
            upsert_batch=DEFAULT_UPSERT_BATCH if upsert_batch is None else upsert_batch,
        )
        self._searcher = None  # the collection may have just been created
        return report

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
        """Search one query; hits best first. Arguments as in :meth:`Searcher.search_batch`
        (``dense_vector``: a caller-computed dense query vector)."""
        self._open()
        if not isinstance(query, str):
            raise InputError(f"query must be a string, got {type(query).__name__}: {query!r:.60}")
        return self.searcher.search(
            query, limit=limit, offset=offset, score_threshold=score_threshold, filter=filter, mode=mode, fusion=fusion,
            rrf_k=rrf_k, weights=weights, prefetch_limit=prefetch_limit, explain=explain, breakdown=breakdown,
            dense_vector=dense_vector,
        )

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
        """Search several queries; one hit list per query. See :meth:`Searcher.search_batch`."""
        self._open()
        return self.searcher.search_batch(
            queries, limit=limit, offset=offset, score_threshold=score_threshold, filter=filter, mode=mode, fusion=fusion,
            rrf_k=rrf_k, weights=weights, prefetch_limit=prefetch_limit, explain=explain, breakdown=breakdown,
            dense_vectors=dense_vectors,
        )

    def info(self) -> dict[str, Any]:
        """Point count, vector configuration and encoder fingerprint."""
        self._open()
        spec = self.store.spec(self.collection)
        return {
            "collection": self.collection,
            "store": self.store.describe(),
            "points": self.store.count(self.collection),
            "sparse_vector": spec.sparse_name,
            "sparse_datatype": spec.sparse_datatype,
            "idf": spec.idf,
            "dense": None if spec.dense is None else {"name": spec.dense.name, "size": spec.dense.size, "distance": spec.dense.distance},
            "fingerprint": dict(spec.metadata),
        }

    def list_collections(self) -> list[str]:
        """Names of the collections in this object's store, sorted."""
        self._open()
        return sorted(self.store.list_collections())

    def drop(self) -> None:
        """Delete this collection and all its points (raises CollectionNotFoundError if missing)."""
        self._open()
        self.store.delete_collection(self.collection)
        self._searcher = None

    def delete(self, ids: Iterable[str]) -> DeleteReport:
        """Delete documents by their own ids (the ``_id``/``id`` they were ingested with).

        Every point of a document goes: in a chunked collection (``long_docs="chunk"``) all its
        windows. Ids not in the collection are reported in ``DeleteReport.not_found``.
        """
        self._open()
        wanted = _doc_ids(ids)
        from .fingerprint import is_chunked
        from .ingest import point_id

        chunked = is_chunked(self.store.spec(self.collection).metadata)
        report = DeleteReport(self.collection, requested=len(wanted))
        for start in range(0, len(wanted), _DELETE_BATCH):
            batch = wanted[start : start + _DELETE_BATCH]
            firsts = {point_id(d, 0) if chunked else point_id(d): d for d in batch}
            found = {p.id: p for p in self.store.retrieve(self.collection, list(firsts))}
            points: list[str] = []
            for pid, doc in firsts.items():
                p = found.get(pid)
                if p is None:
                    report.not_found.append(doc)
                    continue
                report.deleted += 1
                count = int((p.payload.get("chunk") or {}).get("count", 1)) if chunked else 1
                points.extend([point_id(doc, k) for k in range(count)] if chunked else [pid])
            if points:
                self.store.delete(self.collection, points)
                report.points_deleted += len(points)
        return report

    def close(self) -> None:
        """Close the store. Final: any later use of this object raises StoreUnavailableError."""
        if not self._closed:
            self._closed = True
            self._searcher = None
            self.store.close()

    def __enter__(self) -> SpladeQdrant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_documents_arg(documents: Any) -> None:
    """Refuse what cannot be a corpus before anything is loaded or created."""
    if isinstance(documents, (str, os.PathLike)):
        return
    if documents is None or isinstance(documents, (Mapping, bytes)) or not isinstance(documents, Iterable):
        raise InputError(
            "documents must be a path to a JSONL corpus or an iterable of documents (dicts with '_id' or 'id' and "
            f"'text', (id, text) tuples or Documents), got {type(documents).__name__}"
            + ("; wrap a single document in a list" if isinstance(documents, Mapping) else "")
        )


def _doc_ids(ids: Any) -> list[str]:
    """Document ids as strings (integers allowed), duplicates removed, order kept."""
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise InputError(f"ids must be a list of document ids, got {type(ids).__name__}: {ids!r:.60}")
    out: dict[str, None] = {}
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, (str, int)) or (isinstance(i, str) and not i):
            raise InputError(f"document ids are non-empty strings (or integers), got {i!r:.60}")
        out[str(i)] = None
    return list(out)
