"""LlamaIndex adapter (fast: tiny random BERT, a few documents, qdrant-client :memory:)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any

import numpy as np
import pytest

pytest.importorskip("llama_index.vector_stores.qdrant")

from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from splade_qdrant.errors import ConfigError, InputError, MissingDependencyError
from splade_qdrant.fusion import rrf
from splade_qdrant.ingest import point_id
from splade_qdrant.integrations import llama_index as li
from splade_qdrant.search import Searcher

from .conftest import DOCS


def nodes(docs: list[tuple[str, str]] = DOCS) -> list[TextNode]:
    rng = np.random.default_rng(0)
    return [TextNode(text=t, metadata={"doc_id": i}, embedding=rng.normal(size=4).tolist()) for i, t in docs]


def hybrid_store(random_pair: Any, **extra: Any) -> QdrantVectorStore:
    doc_fn, query_fn = li.sparse_encoder_fns(pair=random_pair)
    return QdrantVectorStore(
        "docs", client=QdrantClient(":memory:"), enable_hybrid=True, sparse_doc_fn=doc_fn, sparse_query_fn=query_fn, **extra
    )


def test_encoder_fns_have_the_store_types(random_pair: Any) -> None:
    doc_fn, query_fn = li.sparse_encoder_fns(pair=random_pair)
    indices, values = doc_fn([t for _, t in DOCS])
    want = random_pair.document.encode([t for _, t in DOCS])
    assert indices == [w.indices.tolist() for w in want] and values == [w.values.tolist() for w in want]
    assert type(indices[0][0]) is int and type(values[0][0]) is float
    qi, _ = query_fn(["wing lift"])
    assert len(qi) == 1 and qi[0] == random_pair.query.encode(["wing lift"])[0].indices.tolist()


def test_sparse_query_through_the_store_is_exact(random_pair: Any) -> None:
    store = hybrid_store(random_pair)
    store.add(li.stable_node_ids(nodes()))
    res = store.query(VectorStoreQuery(query_str="heat transfer layer", query_embedding=[0.1] * 4,
                                       similarity_top_k=5, mode=VectorStoreQueryMode.SPARSE))
    qv = random_pair.query.encode(["heat transfer layer"])[0]
    dv = dict(zip([i for i, _ in DOCS], random_pair.document.encode([t for _, t in DOCS])))
    for node, score in zip(res.nodes, res.similarities):
        assert score == pytest.approx(qv.dot(dv[node.metadata["doc_id"]]), rel=1e-5)


def test_rrf_fusion_fn_is_rrf_60() -> None:
    a, b, c = (TextNode(text=x, id_=x) for x in "abc")
    dense = VectorStoreQueryResult(nodes=[b, c], similarities=[0.8, 0.7], ids=["b", "c"])
    sparse = VectorStoreQueryResult(nodes=[a, b], similarities=[9.0, 7.0], ids=["a", "b"])
    out = li.hybrid_fusion_fn(dense, sparse, alpha=0.3, top_k=3)
    want = rrf([[("a", 9.0), ("b", 7.0)], [("b", 0.8), ("c", 0.7)]], k=60)
    assert out.ids == [i for i, _ in want] and out.similarities == [s for _, s in want]
    assert [n.node_id for n in out.nodes] == out.ids
    assert li.rrf_fusion_fn(2)(dense, sparse, top_k=1).similarities == [pytest.approx(1 / 4 + 1 / 3)]


def test_hybrid_query_with_our_fusion(random_pair: Any) -> None:
    store = hybrid_store(random_pair, hybrid_fusion_fn=li.hybrid_fusion_fn)
    store.add(li.stable_node_ids(nodes()))
    res = store.query(VectorStoreQuery(query_str="wing lift", query_embedding=[0.1, 0.2, 0.3, 0.4], similarity_top_k=5,
                                       sparse_top_k=5, hybrid_top_k=3, mode=VectorStoreQueryMode.HYBRID))
    assert len(res.ids) == 3 and all(0 < s <= 2 / 61 for s in res.similarities)


def test_stable_ids_and_no_duplicates(random_pair: Any) -> None:
    store = hybrid_store(random_pair)
    first = li.stable_node_ids(nodes())
    assert [n.node_id for n in first] == [point_id(i) for i, _ in DOCS]
    assert "doc_id" in first[0].excluded_embed_metadata_keys and "content_hash" in first[0].excluded_llm_metadata_keys
    store.add(first)
    store.add(li.stable_node_ids(nodes()))
    assert store.client.count("docs").count == len(DOCS)
    # two chunks of one document get the library's chunk ids; nodes without an id get their content hash
    two = [TextNode(text="wing", metadata={"doc_id": "x"}, embedding=[0.0, 0, 0, 1]),
           TextNode(text="flow", metadata={"doc_id": "x"}, embedding=[0.0, 0, 1, 0])]
    assert [n.node_id for n in li.stable_node_ids(two)] == [point_id("x", 0), point_id("x", 1)]
    anon = [TextNode(text="air speed", embedding=[1.0, 0, 0, 0])]
    store.add(li.stable_node_ids(anon))
    store.add(li.stable_node_ids([TextNode(text="air speed", embedding=[1.0, 0, 0, 0])]))
    assert store.client.count("docs").count == len(DOCS) + 1


def test_retriever_over_edge_store(random_store: Any, random_pair: Any) -> None:
    searcher = Searcher(random_store, "docs", query_encoder=random_pair.query)
    retriever = li.SpladeQdrantRetriever(searcher, similarity_top_k=3)
    got = retriever.retrieve("shock wave pressure")
    hits = searcher.search("shock wave pressure", limit=3)
    assert [n.node.metadata["doc_id"] for n in got] == [h.id for h in hits]
    assert [n.score for n in got] == [h.score for h in hits]
    assert got[0].node.node_id == hits[0].point_id and got[0].node.get_content() == dict(DOCS)[hits[0].id]
    assert [n.score for n in asyncio.run(retriever.aretrieve("shock wave pressure"))] == [n.score for n in got]


def test_bad_input_gets_the_library_errors(random_pair: Any, random_store: Any) -> None:
    doc_fn, query_fn = li.sparse_encoder_fns(pair=random_pair)
    with pytest.raises(InputError, match=r"^<texts>:1: 'text' must be a string, got int$"):
        doc_fn([5])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="query must be a string, got NoneType"):
        query_fn([None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="list of query strings"):
        query_fn("wing")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not both"):
        li.sparse_encoder_fns(pair=random_pair, model="x")
    with pytest.raises(ConfigError, match="limit must be"):
        li.SpladeQdrantRetriever(Searcher(random_store, "docs", query_encoder=random_pair.query), similarity_top_k=0).retrieve("x")


def test_missing_framework_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_index.vector_stores.qdrant", None)
    monkeypatch.delitem(sys.modules, "splade_qdrant.integrations.llama_index")
    with pytest.raises(MissingDependencyError, match=r"pip install 'splade-qdrant\[llama-index\]'"):
        importlib.import_module("splade_qdrant.integrations.llama_index")
