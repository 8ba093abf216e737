"""Cranfield through each framework's own vector store and through the library's retrievers.

Used by ``test_cranfield_frameworks.py`` (slow tests) and ``benchmarks/framework_ndcg.py``
(the README's figures). Every function returns a run ``{query id: [(doc id, score), ...]}``
for the judged queries; :func:`ndcg10` scores it with the library's ir-measures helper.
Documents are encoded as REFERENCE.md says (``title + " " + text``; splade-tiny, documents
256 tokens, queries 64, truncated); the dense side is all-MiniLM-L6-v2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from splade_qdrant.evaluate import load_qrels, load_queries, score_run

from ..helpers import document_text, read_jsonl

Run = dict[str, list[tuple[str, float]]]
HITS = 100  #: hits per query, as `splade-qdrant eval` (nDCG@10 is read from the top 10)


class CachedDense:
    """A dense encoder that remembers every text it encoded (the three frameworks and the
    library's store all embed the same 1,400 documents and 225 queries)."""

    def __init__(self, encoder: Any) -> None:
        self.encoder, self.name, self.dim, self.distance = encoder, encoder.name, encoder.dim, encoder.distance
        self._memo: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self._memo.update(zip(missing, self.encoder.encode(missing)))
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def settings(self) -> dict[str, Any]:
        return self.encoder.settings()


def load(dataset_dir: Path) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, dict[str, int]]]:
    """(documents as (id, text), judged queries, qrels)."""
    docs = [(str(d["_id"]), document_text(d.get("title"), d["text"])) for d in read_jsonl(dataset_dir / "corpus.jsonl")]
    qrels = load_qrels(dataset_dir)
    queries = {q: t for q, t in load_queries(dataset_dir).items() if q in qrels}
    return docs, queries, qrels


def ndcg10(run: Run, qrels: dict[str, dict[str, int]]) -> float:
    return score_run(qrels, run, limit=HITS)["nDCG@10"]


def _run(queries: dict[str, str], search: Callable[[str], list[tuple[str, float]]]) -> Run:
    return {qid: search(text) for qid, text in queries.items()}


# --------------------------------------------------------------------------- the library's own


def library_store(path: Path, pair: Any, dense: Any, docs: list[tuple[str, str]]) -> Any:
    """Cranfield (both vectors, text kept) in an embedded Qdrant Edge store, collection ``cran``."""
    from splade_qdrant.ingest import ingest
    from splade_qdrant.store import open_store

    store = open_store(path)
    ingest(store, "cran", [{"id": i, "text": t} for i, t in docs], pair=pair, dense=dense, store_text=True, show_progress=False)
    return store


def searcher(store: Any, pair: Any, dense: Any) -> Any:
    from splade_qdrant.search import Searcher

    return Searcher(store, "cran", query_encoder=pair.query, dense_encoder=dense)


def our_retriever_runs(searcher: Any, queries: dict[str, str], mode: str) -> dict[str, Run]:
    """The same hybrid (or sparse) search through the library and through each framework's
    retriever over it."""
    from splade_qdrant.integrations import haystack as hs
    from splade_qdrant.integrations import langchain as lc
    from splade_qdrant.integrations import llama_index as li

    lc_r = lc.SpladeQdrantRetriever(searcher=searcher, k=HITS, mode=mode)
    li_r = li.SpladeQdrantRetriever(searcher, similarity_top_k=HITS, mode=mode)
    hs_r = hs.SpladeQdrantRetriever(searcher, top_k=HITS, mode=mode)
    return {
        "library": _run(queries, lambda q: [(h.id, h.score) for h in searcher.search(q, limit=HITS, mode=mode)]),
        "langchain": _run(queries, lambda q: [(d.id, d.metadata["score"]) for d in lc_r.invoke(q)]),
        "llama_index": _run(queries, lambda q: [(n.node.metadata["doc_id"], n.score) for n in li_r.retrieve(q)]),
        "haystack": _run(queries, lambda q: [(d.id, d.score) for d in hs_r.run(q)["documents"]]),
    }


# --------------------------------------------------------------------------- the frameworks' own stores


def langchain_runs(pair: Any, dense: Any, docs: list[tuple[str, str]], queries: dict[str, str], *, native: bool) -> dict[str, Run]:
    """LangChain's QdrantVectorStore on qdrant-client :memory:: sparse (k = 100) and, with
    ``native``, its own HYBRID mode (prefetch k per side, Qdrant's RRF k = 2) at k = 10 and 100."""
    from langchain_core.documents import Document
    from langchain_qdrant import QdrantVectorStore, RetrievalMode
    from qdrant_client import QdrantClient, models

    from splade_qdrant.integrations import langchain as lc

    client = QdrantClient(":memory:")
    client.create_collection(
        "cran", vectors_config={"": models.VectorParams(size=dense.dim, distance=models.Distance.COSINE)},
        sparse_vectors_config={QdrantVectorStore.SPARSE_VECTOR_NAME: models.SparseVectorParams()},
    )
    sparse = lc.SpladeSparseEmbeddings(pair=pair)
    hybrid = QdrantVectorStore(client, "cran", embedding=lc.DenseEmbeddings(dense), retrieval_mode=RetrievalMode.HYBRID,
                               sparse_embedding=sparse)
    lc.add_documents(hybrid, [Document(page_content=t, id=i) for i, t in docs])
    sparse_only = QdrantVectorStore(client, "cran", retrieval_mode=RetrievalMode.SPARSE, sparse_embedding=sparse)

    def search(store: Any, k: int, **extra: Any) -> Callable[[str], list[tuple[str, float]]]:
        return lambda q: [(d.metadata["doc_id"], s) for d, s in store.similarity_search_with_score(q, k=k, **extra)]

    runs = {"sparse": _run(queries, search(sparse_only, HITS))}
    if native:
        runs["native hybrid k=10"] = _run(queries, search(hybrid, 10))
        runs["native hybrid k=100"] = _run(queries, search(hybrid, HITS))
        rrf60 = models.RrfQuery(rrf=models.Rrf(k=61))  # k = 60 with ranks from 1
        runs["native hybrid k=10, rrf_k=60"] = _run(queries, search(hybrid, 10, hybrid_fusion=rrf60))
    return runs


def llama_index_runs(pair: Any, dense: Any, docs: list[tuple[str, str]], queries: dict[str, str], *, native: bool) -> dict[str, Run]:
    """LlamaIndex's QdrantVectorStore (``enable_hybrid``) on qdrant-client :memory:: sparse
    (top 100) and, with ``native``, its hybrid with its default relative-score fusion
    (top 10 per side) and with our RRF k = 60 ``hybrid_fusion_fn`` (top 100 per side)."""
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    from splade_qdrant.integrations import llama_index as li

    client = QdrantClient(":memory:")
    doc_fn, query_fn = li.sparse_encoder_fns(pair=pair)
    store = QdrantVectorStore("cran", client=client, enable_hybrid=True, sparse_doc_fn=doc_fn, sparse_query_fn=query_fn)
    vectors = dense.encode([t for _, t in docs])
    store.add(li.stable_node_ids([TextNode(text=t, metadata={"doc_id": i}, embedding=v.tolist()) for (i, t), v in zip(docs, vectors)]))
    index = VectorStoreIndex.from_vector_store(store, embed_model=li.DenseEmbedding(dense))

    def search(retriever: Any) -> Callable[[str], list[tuple[str, float]]]:
        return lambda q: [(n.node.metadata["doc_id"], float(n.score)) for n in retriever.retrieve(q)]

    runs = {"sparse": _run(queries, search(index.as_retriever(vector_store_query_mode="sparse", similarity_top_k=HITS, sparse_top_k=HITS)))}
    if native:
        runs["native hybrid top 10"] = _run(queries, search(index.as_retriever(vector_store_query_mode="hybrid", similarity_top_k=10)))
        ours = QdrantVectorStore("cran", client=client, enable_hybrid=True, sparse_doc_fn=doc_fn, sparse_query_fn=query_fn,
                                 hybrid_fusion_fn=li.hybrid_fusion_fn)
        ours_index = VectorStoreIndex.from_vector_store(ours, embed_model=li.DenseEmbedding(dense))
        runs["hybrid_fusion_fn (RRF 60), top 100 per side"] = _run(queries, search(ours_index.as_retriever(
            vector_store_query_mode="hybrid", similarity_top_k=HITS, sparse_top_k=HITS, hybrid_top_k=HITS)))
    return runs


def haystack_runs(pair: Any, dense: Any, docs: list[tuple[str, str]], queries: dict[str, str], *, native: bool) -> dict[str, Run]:
    """Haystack's QdrantDocumentStore (``use_sparse_embeddings``) on qdrant-client :memory:, in
    pipelines: sparse (top 100) and, with ``native``, QdrantHybridRetriever (Qdrant's default
    prefetch of 10 per side; RRF k = 2, and k = 60 through ``rrf_k``)."""
    from haystack import Document, Pipeline
    from haystack.document_stores.types import DuplicatePolicy
    from haystack_integrations.components.retrievers.qdrant import (
        QdrantHybridRetriever,
        QdrantSparseEmbeddingRetriever,
    )
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

    from splade_qdrant.integrations import haystack as hs

    store = QdrantDocumentStore(":memory:", index="cran", use_sparse_embeddings=True, embedding_dim=dense.dim,
                                similarity="cosine", recreate_index=True)
    vectors = dense.encode([t for _, t in docs])
    indexing = Pipeline()
    indexing.add_component("sparse", hs.SpladeDocumentEmbedder(pair=pair))
    hdocs = [Document(content=t, meta={"doc_id": i}, embedding=v.tolist()) for (i, t), v in zip(docs, vectors)]
    store.write_documents(indexing.run({"sparse": {"documents": hdocs}})["sparse"]["documents"], policy=DuplicatePolicy.OVERWRITE)
    query = Pipeline()
    query.add_component("text", hs.SpladeTextEmbedder(pair=pair))
    query.add_component("retriever", QdrantSparseEmbeddingRetriever(document_store=store, top_k=HITS))
    query.connect("text.sparse_embedding", "retriever.query_sparse_embedding")
    runs = {"sparse": _run(queries, lambda q: [(d.meta["doc_id"], d.score) for d in query.run({"text": {"text": q}})["retriever"]["documents"]])}
    if native:
        text = hs.SpladeTextEmbedder(pair=pair)
        for label, rrf_k in (("native hybrid top 10", None), ("native hybrid top 10, rrf_k=60", 61)):
            retriever = QdrantHybridRetriever(document_store=store, top_k=10, rrf_k=rrf_k)

            def search(q: str, retriever: Any = retriever) -> list[tuple[str, float]]:
                out = retriever.run(query_embedding=dense.encode([q])[0].tolist(),
                                    query_sparse_embedding=text.run(q)["sparse_embedding"])["documents"]
                return [(d.meta["doc_id"], d.score) for d in out]

            runs[label] = _run(queries, search)
    return runs
