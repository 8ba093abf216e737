"""Haystack: SPLADE embedders for ``QdrantDocumentStore(use_sparse_embeddings=True)`` and a
retriever over the library's own searcher, as ``@component``s.

* :class:`SpladeDocumentEmbedder` — sets ``Document.sparse_embedding`` with the document
  encoder; a document whose ``meta`` has ``doc_id`` gets the library's point id as its id
  (so writing a changed version replaces the old one), and every document gets
  ``meta["content_hash"]``.
* :class:`SpladeTextEmbedder` — ``run(text) -> {"sparse_embedding": SparseEmbedding}`` with
  the query encoder, for ``QdrantSparseEmbeddingRetriever`` / ``QdrantHybridRetriever``.
* :class:`SpladeQdrantRetriever` — ``run(query) -> {"documents": [...]}`` through
  :class:`~splade_qdrant.search.Searcher` (any store, Qdrant Edge included) with the
  library's hybrid (``max(4 × top_k, 100)`` candidates per side, RRF k = 60). Haystack's
  ``QdrantHybridRetriever`` prefetches Qdrant's default 10 per side and fuses with k = 2
  unless given ``rrf_k``.

Example:
    >>> from haystack import Document, Pipeline  # doctest: +SKIP
    >>> from haystack_integrations.document_stores.qdrant import QdrantDocumentStore  # doctest: +SKIP
    >>> store = QdrantDocumentStore(":memory:", use_sparse_embeddings=True, embedding_dim=384)  # doctest: +SKIP
    >>> embedder = SpladeDocumentEmbedder(model="../shared/models/splade-tiny")  # doctest: +SKIP
    >>> docs = embedder.run([Document(content="wing lift", meta={"doc_id": "1"})])["documents"]  # doctest: +SKIP
    >>> store.write_documents(docs, policy=DuplicatePolicy.OVERWRITE)  # doctest: +SKIP
    1
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from ..errors import MissingDependencyError

try:
    from haystack import Document, component, default_from_dict, default_to_dict
    from haystack.dataclasses import SparseEmbedding
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore  # noqa: F401 — the extra's package
except ImportError:
    raise MissingDependencyError("qdrant-haystack", "haystack", "splade_qdrant.integrations.haystack") from None

from ..collection import SpladeQdrant
from ..config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DOC_MAX_LENGTH,
    DEFAULT_QUERY_MAX_LENGTH,
)
from ..encoder import DEFAULT_LONG_DOCS, LongDocs
from ..errors import ConfigError
from ..fusion import DEFAULT_RRF_K
from ..ingest import point_id
from ..pair import EncoderPair
from ..search import FusionMethod, Mode, Searcher, SearchHit
from ._common import PairLoader, check_query, check_texts, document_key, hit_metadata

__all__ = ["SpladeDocumentEmbedder", "SpladeQdrantRetriever", "SpladeTextEmbedder"]

_FRAMEWORK = "Haystack's QdrantDocumentStore"


class _Embedder:
    """Encoder options shared by the two embedders (see :class:`~splade_qdrant.SpladeQdrant`)."""

    def __init__(self, pair: EncoderPair | None, options: dict[str, Any]) -> None:
        self.encoders = PairLoader(pair, options, framework=_FRAMEWORK)

    def warm_up(self) -> None:
        """Load the encoders (Haystack calls this before the first run)."""
        self.encoders.pair  # noqa: B018 — loads on first access

    def _settings(self) -> dict[str, Any]:
        return self.encoders.settings()


@component
class SpladeDocumentEmbedder(_Embedder):
    """Sets each document's ``sparse_embedding`` with the SPLADE document encoder.

    Takes the encoder options of :class:`~splade_qdrant.SpladeQdrant` or a loaded ``pair``
    (``long_docs`` ``"window"`` or ``"truncate"``). ``id_meta_key`` names the ``meta`` field
    holding a document's own id: such documents get ``id = point_id(meta[id_meta_key])``;
    others keep Haystack's content-derived id. Write with ``DuplicatePolicy.OVERWRITE`` to
    replace changed documents.
    """

    def __init__(
        self,
        *,
        pair: EncoderPair | None = None,
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
        id_meta_key: str | None = "doc_id",
    ) -> None:
        _Embedder.__init__(self, pair, {
            "model": model, "doc_model": doc_model, "query_model": query_model, "doc_max_length": doc_max_length,
            "query_max_length": query_max_length, "long_docs": long_docs, "window_overlap": window_overlap,
            "doc_top_k": doc_top_k, "doc_threshold": doc_threshold, "query_top_k": query_top_k,
            "query_threshold": query_threshold, "batch_size": batch_size, "device": device, "half": half,
        })
        self.id_meta_key = id_meta_key

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self._settings(), id_meta_key=self.id_meta_key)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpladeDocumentEmbedder:
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        """New documents with ``sparse_embedding``, ``meta["content_hash"]`` and stable ids."""
        if not isinstance(documents, list) or any(not isinstance(d, Document) for d in documents):
            raise TypeError("SpladeDocumentEmbedder expects a list of Haystack Documents; use SpladeTextEmbedder for a string")
        own = [None if self.id_meta_key is None else d.meta.get(self.id_meta_key) for d in documents]
        texts = check_texts([d.content for d in documents], ids=[None if o is None else str(o) for o in own])
        vectors = self.encoders.encode_documents(texts)
        out = []
        for doc, text, vec, key in zip(documents, texts, vectors, own):
            _, digest = document_key(key, text)
            new_id = doc.id if key is None else point_id(str(key))
            sparse = SparseEmbedding(indices=vec.indices.tolist(), values=vec.values.tolist())
            out.append(dataclasses.replace(doc, id=new_id, sparse_embedding=sparse, meta={**doc.meta, "content_hash": digest}))
        return {"documents": out}


@component
class SpladeTextEmbedder(_Embedder):
    """Encodes one query with the SPLADE query encoder: ``{"sparse_embedding": SparseEmbedding}``.

    Takes the same options as :class:`SpladeDocumentEmbedder` (the query side is used).
    """

    def __init__(
        self,
        *,
        pair: EncoderPair | None = None,
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
    ) -> None:
        _Embedder.__init__(self, pair, {
            "model": model, "doc_model": doc_model, "query_model": query_model, "doc_max_length": doc_max_length,
            "query_max_length": query_max_length, "long_docs": long_docs, "window_overlap": window_overlap,
            "doc_top_k": doc_top_k, "doc_threshold": doc_threshold, "query_top_k": query_top_k,
            "query_threshold": query_threshold, "batch_size": batch_size, "device": device, "half": half,
        })

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self._settings())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpladeTextEmbedder:
        return default_from_dict(cls, data)

    @component.output_types(sparse_embedding=SparseEmbedding)
    def run(self, text: str) -> dict[str, SparseEmbedding]:
        """The query's SPLADE vector."""
        vec = self.encoders.encode_queries([check_query(text)])[0]
        return {"sparse_embedding": SparseEmbedding(indices=vec.indices.tolist(), values=vec.values.tolist())}


@component
class SpladeQdrantRetriever:
    """Retrieves through the library's :class:`~splade_qdrant.search.Searcher`.

    Give a ``searcher`` (not serialisable by ``to_dict``), or ``collection`` plus ``store``
    (embedded directory) or ``url``/``api_key``; the collection's recorded query encoder
    (and dense encoder, for hybrid) load in :meth:`warm_up`. ``filters`` use the library's
    format (``{"key": value}`` / ``{"key": [v1, v2]}``) or a native Qdrant filter.
    Documents carry ``meta`` = payload plus ``doc_id``, ``point_id``, ``score`` and, in
    hybrid mode, ``breakdown``.
    """

    def __init__(
        self,
        searcher: Searcher | None = None,
        *,
        collection: str | None = None,
        store: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        query_model: str | None = None,
        dense_model: str | None = None,
        top_k: int = 10,
        mode: Mode = "sparse",
        fusion: FusionMethod = "rrf",
        rrf_k: int = DEFAULT_RRF_K,
    ) -> None:
        if (searcher is None) == (collection is None):
            raise ConfigError("give searcher= or collection= (with store= or url=), not both")
        self._searcher = searcher
        self._sq: SpladeQdrant | None = None
        self.collection, self.store, self.url, self.api_key = collection, store, url, api_key
        self.query_model, self.dense_model = query_model, dense_model
        self.top_k, self.mode, self.fusion, self.rrf_k = top_k, mode, fusion, rrf_k

    def warm_up(self) -> None:
        """Open the collection and load its query encoder."""
        if self._searcher is None and self.collection is not None:
            self._sq = SpladeQdrant(
                self.collection, store=None if self.store is None else os.fspath(self.store), url=self.url,
                api_key=self.api_key, query_model=self.query_model, dense_model=self.dense_model,
            )
            self._searcher = self._sq.searcher

    def to_dict(self) -> dict[str, Any]:
        if self.collection is None:
            raise ConfigError("a retriever built from a Searcher cannot be serialised; build it with collection= and store= or url=")
        return default_to_dict(
            self, collection=self.collection, store=self.store, url=self.url, api_key=self.api_key,
            query_model=self.query_model, dense_model=self.dense_model, top_k=self.top_k, mode=self.mode,
            fusion=self.fusion, rrf_k=self.rrf_k,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpladeQdrantRetriever:
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document])
    def run(self, query: str, top_k: int | None = None, filters: Any = None) -> dict[str, list[Document]]:
        """The ``top_k`` best documents for ``query``."""
        self.warm_up()
        searcher = self._searcher
        if searcher is None:  # pragma: no cover — __init__ requires a searcher or a collection
            raise ConfigError("SpladeQdrantRetriever has neither a searcher nor a collection")
        hits = searcher.search(
            check_query(query), limit=self.top_k if top_k is None else top_k, filter=filters, mode=self.mode, fusion=self.fusion,
            rrf_k=self.rrf_k, breakdown=self.mode == "hybrid",
        )
        return {"documents": [_document(h) for h in hits]}

    def close(self) -> None:
        """Close the store this retriever opened (not a given searcher's)."""
        if self._sq is not None:
            self._sq.close()
            self._sq = None


def _document(hit: SearchHit) -> Document:
    return Document(id=hit.id, content=str(hit.payload.get("text", "")), meta=hit_metadata(hit), score=hit.score)
