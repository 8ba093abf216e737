"""Haystack adapter (fast: tiny random BERT, a few documents, QdrantDocumentStore in memory)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("haystack_integrations.document_stores.qdrant")

from haystack import Document, Pipeline
from haystack.document_stores.types import DuplicatePolicy
from haystack_integrations.components.retrievers.qdrant import (
    QdrantSparseEmbeddingRetriever,
)
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

from splade_qdrant.errors import ConfigError, InputError, MissingDependencyError
from splade_qdrant.ingest import point_id
from splade_qdrant.integrations import haystack as hs
from splade_qdrant.search import Searcher

from .conftest import DOCS


def doc_store() -> QdrantDocumentStore:
    return QdrantDocumentStore(":memory:", index="docs", use_sparse_embeddings=True, embedding_dim=4, recreate_index=True)


def test_embedders_set_the_pair_vectors(random_pair: Any) -> None:
    embedder = hs.SpladeDocumentEmbedder(pair=random_pair)
    embedder.warm_up()
    docs = embedder.run([Document(content=t, meta={"doc_id": i}) for i, t in DOCS])["documents"]
    want = random_pair.document.encode([t for _, t in DOCS])
    assert [d.sparse_embedding.indices for d in docs] == [w.indices.tolist() for w in want]
    assert [d.sparse_embedding.values for d in docs] == [w.values.tolist() for w in want]
    assert [d.id for d in docs] == [point_id(i) for i, _ in DOCS]
    assert all(len(d.meta["content_hash"]) == 24 for d in docs)
    q = hs.SpladeTextEmbedder(pair=random_pair).run("wing lift")["sparse_embedding"]
    assert q.indices == random_pair.query.encode(["wing lift"])[0].indices.tolist()


def test_pipeline_with_the_sparse_retriever_is_exact(random_pair: Any) -> None:
    store = doc_store()
    indexing = Pipeline()
    indexing.add_component("embedder", hs.SpladeDocumentEmbedder(pair=random_pair))
    docs = indexing.run({"embedder": {"documents": [Document(content=t, meta={"doc_id": i}) for i, t in DOCS]}})
    store.write_documents(docs["embedder"]["documents"])
    query = Pipeline()
    query.add_component("text", hs.SpladeTextEmbedder(pair=random_pair))
    query.add_component("retriever", QdrantSparseEmbeddingRetriever(document_store=store, top_k=5))
    query.connect("text.sparse_embedding", "retriever.query_sparse_embedding")
    found = query.run({"text": {"text": "shock wave pressure"}})["retriever"]["documents"]
    qv = random_pair.query.encode(["shock wave pressure"])[0]
    dv = dict(zip([i for i, _ in DOCS], random_pair.document.encode([t for _, t in DOCS])))
    assert len(found) == 5
    for d in found:
        assert d.score == pytest.approx(qv.dot(dv[d.meta["doc_id"]]), rel=1e-5)


def test_rewriting_does_not_duplicate(random_pair: Any) -> None:
    store = doc_store()
    embedder = hs.SpladeDocumentEmbedder(pair=random_pair)
    docs = [Document(content=t, meta={"doc_id": i}) for i, t in DOCS]
    store.write_documents(embedder.run(docs)["documents"], policy=DuplicatePolicy.OVERWRITE)
    store.write_documents(embedder.run(docs)["documents"], policy=DuplicatePolicy.OVERWRITE)
    assert store.count_documents() == len(DOCS)
    # a changed text keeps the document's id, so it replaces the stored version
    changed = embedder.run([Document(content="drag of a wing", meta={"doc_id": "d1"})])["documents"]
    store.write_documents(changed, policy=DuplicatePolicy.OVERWRITE)
    assert store.count_documents() == len(DOCS)
    assert store.get_documents_by_id([point_id("d1")])[0].content == "drag of a wing"
    # documents without an id keep Haystack's content-derived id: the same text twice is one document
    plain = embedder.run([Document(content="air speed data")])["documents"]
    assert store.write_documents(plain, policy=DuplicatePolicy.SKIP) == 1
    assert store.write_documents(embedder.run([Document(content="air speed data")])["documents"], policy=DuplicatePolicy.SKIP) == 0


def test_serialisation_round_trip(random_pair: Any, tmp_path: Path) -> None:
    e = hs.SpladeDocumentEmbedder(model="some/model", doc_max_length=128, long_docs="truncate", doc_top_k=50)
    again = hs.SpladeDocumentEmbedder.from_dict(e.to_dict())
    assert again.to_dict() == e.to_dict() and again.to_dict()["init_parameters"]["doc_top_k"] == 50
    given = hs.SpladeTextEmbedder(pair=random_pair).to_dict()["init_parameters"]
    assert given["query_model"] == "tiny-random-bert" and given["query_max_length"] == 16
    r = hs.SpladeQdrantRetriever(collection="docs", store=str(tmp_path), top_k=3, mode="hybrid")
    assert hs.SpladeQdrantRetriever.from_dict(r.to_dict()).to_dict() == r.to_dict()


def test_retriever_over_edge_store(random_store: Any, random_pair: Any) -> None:
    searcher = Searcher(random_store, "docs", query_encoder=random_pair.query)
    got = hs.SpladeQdrantRetriever(searcher, top_k=3).run("shock wave pressure")["documents"]
    hits = searcher.search("shock wave pressure", limit=3)
    assert [d.id for d in got] == [h.id for h in hits] and [d.score for d in got] == [h.score for h in hits]
    assert got[0].content == dict(DOCS)[hits[0].id] and got[0].meta["point_id"] == hits[0].point_id


def test_bad_input_gets_the_library_errors(random_pair: Any, random_store: Any) -> None:
    embedder = hs.SpladeDocumentEmbedder(pair=random_pair)
    with pytest.raises(InputError, match=r"^<texts>:2 \(document 'x'\): 'text' is missing$"):
        embedder.run([Document(content="wing"), Document(content=None, meta={"doc_id": "x"})])
    with pytest.raises(TypeError, match="query must be a string, got list"):
        hs.SpladeTextEmbedder(pair=random_pair).run(["wing"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="long_docs='chunk'"):
        hs.SpladeDocumentEmbedder(model="x", long_docs="chunk")
    with pytest.raises(ConfigError, match="not both"):
        hs.SpladeQdrantRetriever(Searcher(random_store, "docs", query_encoder=random_pair.query), collection="docs")
    with pytest.raises(ConfigError, match="limit must be"):
        hs.SpladeQdrantRetriever(Searcher(random_store, "docs", query_encoder=random_pair.query), top_k=3).run("x", top_k=-1)


def test_missing_framework_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "haystack_integrations.document_stores.qdrant", None)
    monkeypatch.delitem(sys.modules, "splade_qdrant.integrations.haystack")
    with pytest.raises(MissingDependencyError, match=r"pip install 'splade-qdrant\[haystack\]'"):
        importlib.import_module("splade_qdrant.integrations.haystack")
