"""Batched queries: ``search_batch`` of 64 queries vs 64 single ``search`` calls.

One Qdrant Edge collection of the first ``--docs`` Cranfield documents (splade-tiny,
truncation 256); the 225 Cranfield queries (truncation 64) in groups of 64. Both ways run in
this process, interleaved group by group; the hits are compared (same ids, scores within
1e-4: a batch pads queries together, so float rounding of the weights may differ).

    python benchmarks/search_batch.py [--docs 1400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

from splade_qdrant.ingest import ingest
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher
from splade_qdrant.store import open_store

from _common import MODEL, SHARED, query_texts, save, table

BATCH = 64


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1400, help="Cranfield documents in the collection")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import json

    with open(SHARED / "datasets" / "cranfield" / "corpus.jsonl", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh][: args.docs]
    pair = EncoderPair.from_pretrained(str(MODEL), doc_max_length=256, query_max_length=64, long_docs="truncate")
    tmp = tempfile.mkdtemp(prefix="sq-sbatch-")
    store = open_store(f"{tmp}/edge")
    ingest(store, "c", docs, pair=pair, show_progress=False)
    searcher = Searcher(store, "c", query_encoder=pair.query)
    queries = query_texts("cranfield")
    groups = [queries[i : i + BATCH] for i in range(0, len(queries) - BATCH + 1, BATCH)]
    searcher.search_batch(groups[0], limit=10)
    for q in groups[0][:8]:
        searcher.search(q, limit=10)
    t_single = t_batch = 0.0
    n = 0
    worst = 0.0
    for _ in range(args.rounds):
        for g in groups:
            t0 = time.perf_counter()
            singles = [searcher.search(q, limit=10) for q in g]
            t1 = time.perf_counter()
            batched = searcher.search_batch(g, limit=10)
            t2 = time.perf_counter()
            t_single += t1 - t0
            t_batch += t2 - t1
            n += len(g)
            for a, b in zip(singles, batched):
                sa = {h.id: h.score for h in a}
                for h in b:
                    if h.id in sa:
                        worst = max(worst, abs(sa[h.id] - h.score))
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    res = {"documents": len(docs), "queries": n, "batch": BATCH, "single_qps": n / t_single, "batch_qps": n / t_batch,
           "speedup": t_single / t_batch, "max_score_diff_on_common_hits": worst}
    print(table(["way", "queries/s"], [[f"{BATCH} single searches", f"{res['single_qps']:.1f}"],
                                       [f"search_batch of {BATCH}", f"{res['batch_qps']:.1f}"]]))
    print(f"search_batch: {res['speedup']:.2f}x the queries/s of single searches; max score diff {worst:.1e}")
    print("saved", save("search_batch", res))


if __name__ == "__main__":
    main()
