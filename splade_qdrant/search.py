"""Search: query text → query encoder → sparse (or dense, or fused) query → hits.

A :class:`Searcher` is bound to one collection. By default it loads the query encoder the
collection's fingerprint recorded; passing another model is refused unless
``allow_model_mismatch=True``.

Example:
    >>> searcher = Searcher(open_store("./splade_qdrant_data"), "cran")  # doctest: +SKIP
    >>> [h.id for h in searcher.search("wing slipstream", limit=3)]  # doctest: +SKIP
    ['1', '2', '12']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import fingerprint
from .encoder import SpladeEncoder
from .errors import ConfigError
from .sparse import SparseVector
from .store.base import Filter, SparseQuery, Store, StoredPoint

__all__ = ["SearchHit", "Searcher"]

DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class SearchHit:
    """One result: the document's own id, its score, and the point's payload."""

    id: str
    score: float
    payload: dict[str, Any]
    point_id: str

    @classmethod
    def from_stored(cls, point: StoredPoint) -> SearchHit:
        return cls(str(point.payload.get("doc_id", point.id)), point.score, point.payload, point.id)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (what ``search --json`` prints)."""
        return {"id": self.id, "score": self.score, "payload": self.payload, "point_id": self.point_id}


class Searcher:
    """Searches one collection with its recorded query encoder.

    Args:
        store: the store holding ``collection``.
        collection: collection name.
        query_encoder: an already loaded encoder (checked against the fingerprint).
        query_model: load this model instead of the recorded one (checked likewise).
        query_max_length: override the recorded query max length.
        device: where the query encoder runs.
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
        device: str | None = None,
        allow_model_mismatch: bool = False,
    ) -> None:
        if query_encoder is not None and query_model is not None:
            raise ConfigError("give query_encoder or query_model, not both")
        self.store = store
        self.collection = collection
        self.spec = store.spec(collection)
        recorded = self.spec.metadata
        recorded_model, recorded_len = fingerprint.recorded_query_model(recorded)
        if query_encoder is None:
            model = query_model or recorded_model
            if not model:
                raise ConfigError(f"collection {collection!r} records no query encoder; pass query_model")
            query_encoder = SpladeEncoder.from_pretrained(
                model, side="query", device=device, max_length=query_max_length or recorded_len
            )
        if not allow_model_mismatch:
            fingerprint.check_query_model(recorded, query_encoder.name, collection=collection)
        self.encoder = query_encoder

    def encode(self, queries: Sequence[str]) -> list[SparseVector]:
        """Query vectors for texts."""
        return self.encoder.encode(list(queries))

    def search_vectors(
        self,
        vectors: Sequence[SparseVector],
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        score_threshold: float | None = None,
        filter: Filter | None = None,
    ) -> list[list[SearchHit]]:
        """Search with ready sparse query vectors."""
        if limit < 1 or offset < 0:
            raise ConfigError(f"limit must be >= 1 and offset >= 0, got limit={limit}, offset={offset}")
        queries = [SparseQuery(v, self.spec.sparse_name) for v in vectors]
        results = self.store.query_batch(
            self.collection, queries, limit=limit, offset=offset, score_threshold=score_threshold, filter=filter
        )
        return [[SearchHit.from_stored(p) for p in rows] for rows in results]

    def search_batch(
        self,
        queries: Sequence[str],
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        score_threshold: float | None = None,
        filter: Filter | None = None,
    ) -> list[list[SearchHit]]:
        """Search several query texts; one hit list per query, in order."""
        if isinstance(queries, str):
            raise TypeError("search_batch expects a list of query strings; use search() for one")
        return self.search_vectors(
            self.encode(queries), limit=limit, offset=offset, score_threshold=score_threshold, filter=filter
        )

    def search(
        self,
        query: str,
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        score_threshold: float | None = None,
        filter: Filter | None = None,
    ) -> list[SearchHit]:
        """Search one query text; hits best first.

        Args:
            query: the query text.
            limit: number of hits (default 10).
            offset: hits to skip (for paging).
            score_threshold: drop hits scoring below this.
            filter: ``{"key": value}`` / ``{"key": [v1, v2]}`` or a native Qdrant filter.
        """
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        return self.search_batch([query], limit=limit, offset=offset, score_threshold=score_threshold, filter=filter)[0]
