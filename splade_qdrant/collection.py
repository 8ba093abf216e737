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
from collections.abc import Iterable, Sequence
from typing import Any

from .config import DEFAULT_BATCH_SIZE, DEFAULT_DOC_MAX_LENGTH, DEFAULT_QUERY_MAX_LENGTH, resolve_preset
from .dense import DenseEncoder, DenseEncoderLike
from .documents import DocumentLike
from .encoder import DEFAULT_LONG_DOCS, LongDocs
from .ingest import IngestReport, ingest
from .pair import EncoderPair
from .search import DEFAULT_LIMIT, SearchHit, Searcher
from .store import Store, open_store
from .store.base import Filter

__all__ = ["SpladeQdrant"]


class SpladeQdrant:
    """Ingest into and search one collection.

    Encoders load lazily: searching loads only the (recorded) query encoder, ingesting loads
    the pair. Options not given to the constructor take the library defaults.

    Args:
        collection: collection name.
        store: embedded store directory, or ``":memory:"``; see :func:`~splade_qdrant.store.open_store`.
        url, api_key, prefer_grpc: a Qdrant server instead of the embedded store.
        model, doc_model, query_model: preset name, Hub id or directory (see :class:`EncoderPair`).
        doc_max_length, query_max_length: token budgets ([CLS]/[SEP] included).
        long_docs: ``"window"`` (default), ``"chunk"`` or ``"truncate"``.
        window_overlap: tokens shared by consecutive windows (default: a quarter window).
        doc_top_k, doc_threshold, query_top_k, query_threshold: optional pruning.
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
        model: str | None = None,
        doc_model: str | None = None,
        query_model: str | None = None,
        doc_max_length: int = DEFAULT_DOC_MAX_LENGTH,
        query_max_length: int = DEFAULT_QUERY_MAX_LENGTH,
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
        self.collection = collection
        self.store = store if isinstance(store, Store) else open_store(store, url=url, api_key=api_key, prefer_grpc=prefer_grpc)
        self._pair_options: dict[str, Any] = {
            "model": model,
            "doc_model": doc_model,
            "query_model": query_model,
            "doc_max_length": doc_max_length,
            "query_max_length": query_max_length,
            "long_docs": long_docs,
            "window_overlap": window_overlap,
            "doc_top_k": doc_top_k,
            "doc_threshold": doc_threshold,
            "query_top_k": query_top_k,
            "query_threshold": query_threshold,
            "batch_size": batch_size,
            "device": device,
            "half": half,
        }
        self._device = device
        self._dense_arg = dense_model
        self._dense: DenseEncoderLike | None = None
        self._allow_mismatch = allow_model_mismatch
        self._pair: EncoderPair | None = None
        self._searcher: Searcher | None = None

    @property
    def pair(self) -> EncoderPair:
        """The encoder pair (loaded on first use)."""
        if self._pair is None:
            self._pair = EncoderPair.from_pretrained(**self._pair_options)
        return self._pair

    @property
    def dense(self) -> DenseEncoderLike | None:
        """The dense encoder given to the constructor (loaded on first use), or None."""
        if self._dense is None and self._dense_arg is not None:
            arg = self._dense_arg
            self._dense = DenseEncoder(os.fspath(arg), device=self._device) if isinstance(arg, (str, os.PathLike)) else arg
        return self._dense

    @property
    def searcher(self) -> Searcher:
        """The searcher bound to this collection (loaded on first use)."""
        if self._searcher is None:
            if self._pair is not None:
                encoder = self._pair.query
                self._searcher = Searcher(
                    self.store,
                    self.collection,
                    query_encoder=encoder,
                    dense_encoder=self.dense,
                    allow_model_mismatch=self._allow_mismatch,
                )
            else:
                model = self._pair_options["model"]
                query_model = self._pair_options["query_model"] or (resolve_preset(model)[1] if model else None)
                self._searcher = Searcher(
                    self.store,
                    self.collection,
                    query_model=query_model,
                    dense_encoder=self.dense,
                    device=self._device,
                    allow_model_mismatch=self._allow_mismatch,
                )
        return self._searcher

    def ingest(self, documents: Iterable[DocumentLike] | str | os.PathLike[str], **options: Any) -> IngestReport:
        """Encode and upsert documents; ``options`` are those of :func:`splade_qdrant.ingest.ingest`."""
        options.setdefault("dense", self.dense)
        report = ingest(self.store, self.collection, documents, pair=self.pair, **options)
        self._searcher = None  # the collection may have just been created
        return report

    def search(self, query: str, *, limit: int = DEFAULT_LIMIT, filter: Filter | None = None, **options: Any) -> list[SearchHit]:
        """Search one query; options (mode, fusion, rrf_k, weights, explain, breakdown, …) as in
        :meth:`Searcher.search_batch`."""
        return self.searcher.search(query, limit=limit, filter=filter, **options)

    def search_batch(self, queries: Sequence[str], *, limit: int = DEFAULT_LIMIT, **options: Any) -> list[list[SearchHit]]:
        """Search several queries; see :meth:`Searcher.search_batch`."""
        return self.searcher.search_batch(queries, limit=limit, **options)

    def info(self) -> dict[str, Any]:
        """Point count, vector configuration and encoder fingerprint."""
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

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> SpladeQdrant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
