"""LangChain adapter (fast: tiny random BERT, a few documents, qdrant-client :memory:)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any

import pytest

pytest.importorskip("langchain_qdrant")

from langchain_core.documents import Document
from langchain_qdrant import QdrantVectorStore, RetrievalMode
from qdrant_client import QdrantClient, models

from splade_qdrant.errors import ConfigError, InputError, MissingDependencyError
from splade_qdrant.ingest import point_id
from splade_qdrant.integrations import langchain as lc
from splade_qdrant.search import Searcher

from .conftest import DOCS


@pytest.fixture
def sparse(random_pair: Any) -> lc.SpladeSparseEmbeddings:
    return lc.SpladeSparseEmbeddings(pair=random_pair)


def sparse_store(sparse: lc.SpladeSparseEmbeddings) -> QdrantVectorStore:
    client = QdrantClient(":memory:")
    client.create_collection(
        "docs", vectors_config={}, sparse_vectors_config={QdrantVectorStore.SPARSE_VECTOR_NAME: models.SparseVectorParams()}
    )
    return QdrantVectorStore(client, "docs", retrieval_mode=RetrievalMode.SPARSE, sparse_embedding=sparse)


def test_embeddings_are_the_pair_vectors(sparse: lc.SpladeSparseEmbeddings, random_pair: Any) -> None:
    texts = [t for _, t in DOCS]
    got = sparse.embed_documents(texts)
    want = random_pair.document.encode(texts)
    assert [g.indices for g in got] == [w.indices.tolist() for w in want]
    assert [g.values for g in got] == [w.values.tolist() for w in want]
    assert all(type(i) is int for i in got[0].indices) and all(type(v) is float for v in got[0].values)
    q = sparse.embed_query("wing lift")
    assert q.indices == random_pair.query.encode(["wing lift"])[0].indices.tolist()
    assert asyncio.run(sparse.aembed_query("wing lift")) == q
    assert asyncio.run(sparse.aembed_documents(texts)) == got


def test_vector_store_scores_are_exact_dot_products(sparse: lc.SpladeSparseEmbeddings, random_pair: Any) -> None:
    vs = sparse_store(sparse)
    lc.add_documents(vs, [Document(page_content=t, id=i) for i, t in DOCS])
    hits = vs.similarity_search_with_score("heat transfer boundary layer", k=5)
    qv = random_pair.query.encode(["heat transfer boundary layer"])[0]
    dv = dict(zip([i for i, _ in DOCS], random_pair.document.encode([t for _, t in DOCS])))
    for doc, score in hits:
        assert score == pytest.approx(qv.dot(dv[doc.metadata["doc_id"]]), rel=1e-5)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_readding_does_not_duplicate(sparse: lc.SpladeSparseEmbeddings) -> None:
    vs = sparse_store(sparse)
    docs = [Document(page_content=t, id=i, metadata={"n": k}) for k, (i, t) in enumerate(DOCS)]
    ids = lc.add_documents(vs, docs)
    assert ids == [point_id(i) for i, _ in DOCS] == lc.stable_ids(docs)
    assert lc.add_documents(vs, docs) == ids
    assert vs.client.count("docs").count == len(DOCS)
    # a changed text under the same id replaces the stored one
    lc.add_documents(vs, [Document(page_content="drag of a wing", id="d1", metadata={"n": 0})])
    assert vs.client.count("docs").count == len(DOCS)
    assert vs.get_by_ids([point_id("d1")])[0].page_content == "drag of a wing"
    # without ids: the content hash is the key, so the same text twice is one point
    lc.add_documents(vs, [Document(page_content="air speed data")])
    lc.add_documents(vs, [Document(page_content="air speed data")])
    assert vs.client.count("docs").count == len(DOCS) + 1
    # LangChain's own add_documents without ids would have duplicated (uuid4 per call)
    vs.add_documents([Document(page_content="air speed data")])
    assert vs.client.count("docs").count == len(DOCS) + 2


def test_unchanged_documents_are_not_reencoded(sparse: lc.SpladeSparseEmbeddings, random_pair: Any) -> None:
    vs = sparse_store(sparse)
    docs = [Document(page_content=t, id=i) for i, t in DOCS]
    lc.add_documents(vs, docs)
    seen: list[list[str]] = []
    original = sparse.embed_documents

    class Counting(lc.SpladeSparseEmbeddings):
        def embed_documents(self, texts: list[str]) -> Any:
            seen.append(list(texts))
            return original(texts)

    vs2 = QdrantVectorStore(vs.client, "docs", retrieval_mode=RetrievalMode.SPARSE, sparse_embedding=Counting(pair=random_pair))
    lc.add_documents(vs2, [*docs, Document(page_content="new text on lift", id="d9")])
    assert seen == [["new text on lift"]]


def test_retriever_over_edge_store(random_store: Any, random_pair: Any) -> None:
    searcher = Searcher(random_store, "docs", query_encoder=random_pair.query)
    retriever = lc.SpladeQdrantRetriever(searcher=searcher, k=3)
    docs = retriever.invoke("shock wave pressure")
    hits = searcher.search("shock wave pressure", limit=3)
    assert [d.id for d in docs] == [h.id for h in hits]
    assert [d.metadata["score"] for d in docs] == [h.score for h in hits]
    assert docs[0].page_content == dict(DOCS)[hits[0].id]
    assert docs[0].metadata["point_id"] == point_id(hits[0].id) and "text" not in docs[0].metadata
    assert [d.id for d in asyncio.run(retriever.ainvoke("shock wave pressure"))] == [d.id for d in docs]


def test_bad_input_gets_the_library_errors(sparse: lc.SpladeSparseEmbeddings, random_store: Any, random_pair: Any) -> None:
    with pytest.raises(InputError, match=r"^<texts>:2: 'text' is missing$"):
        sparse.embed_documents(["wing", None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="query must be a string, got int"):
        sparse.embed_query(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not one string"):
        sparse.embed_documents("wing lift")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="long_docs='chunk'"):
        lc.SpladeSparseEmbeddings(model="x", long_docs="chunk")
    with pytest.raises(ConfigError, match="limit must be"):
        lc.SpladeQdrantRetriever(searcher=Searcher(random_store, "docs", query_encoder=random_pair.query), k=0).invoke("wing")


def test_missing_framework_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_qdrant", None)
    monkeypatch.delitem(sys.modules, "splade_qdrant.integrations.langchain")
    with pytest.raises(MissingDependencyError, match=r"pip install 'splade-qdrant\[langchain\]'") as err:
        importlib.import_module("splade_qdrant.integrations.langchain")
    assert isinstance(err.value, ImportError)
