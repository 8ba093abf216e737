"""Long documents: truncation vs overlapping windows, on a long-document Cranfield.

Cranfield's abstracts are short, so we build long documents honestly from it: document
``i`` of the long collection is Cranfield documents ``i .. i+4`` concatenated (fewer at the
end of the corpus), and it is relevant to a query whenever any of its constituents is,
with the highest of their grades. Each mode ingests the same 1,400 long documents into its
own Qdrant Edge store; all 225 queries run through ``Searcher.search_batch`` and are scored
with ir-measures (nDCG@10, R@100). The original short-document Cranfield (truncated) is
the anchor row (REFERENCE.md: nDCG@10 0.3634, R@100 0.7311).

    python benchmarks/long_docs.py [--span 5] [--max-length 256] [--no-original]

Prints a table and writes ``benchmarks/results/long_docs.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from typing import Any

import ir_measures
import numpy as np
from _common import MODEL, REPO, SHARED, save, table

from splade_qdrant.evaluate import load_qrels, load_queries
from splade_qdrant.ingest import ingest
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher
from splade_qdrant.store.edge import EdgeStore

DATA = SHARED / "datasets" / "cranfield"
MEASURES = [ir_measures.nDCG @ 10, ir_measures.R @ 100]


def encoded_text(doc: dict[str, Any]) -> str:
    title, text = (doc.get("title") or "").strip(), doc["text"].strip()
    return f"{title} {text}" if title else text


def long_collection(docs: list[dict[str, Any]], qrels: dict[str, dict[str, int]], span: int):
    """Documents i..i+span-1 concatenated, and qrels lifted to them (max grade of the constituents)."""
    long_docs, owners = [], {}
    for i in range(len(docs)):
        parts = docs[i : i + span]
        long_id = f"L{docs[i]['_id']}"
        long_docs.append({"_id": long_id, "text": " ".join(encoded_text(d) for d in parts)})
        owners[long_id] = [d["_id"] for d in parts]
    long_qrels: dict[str, dict[str, int]] = {}
    for qid, judged in qrels.items():
        for long_id, parts in owners.items():
            grades = [judged[p] for p in parts if p in judged and judged[p] > 0]
            if grades:
                long_qrels.setdefault(qid, {})[long_id] = max(grades)
    return long_docs, long_qrels


def score(qrels: dict[str, dict[str, int]], run: dict[str, list[tuple[str, float]]]) -> dict[str, float]:
    qrel_rows = [ir_measures.Qrel(q, d, g) for q, docs in qrels.items() for d, g in docs.items()]
    run_rows = [ir_measures.ScoredDoc(q, d, s) for q, hits in run.items() for d, s in hits]
    agg = ir_measures.calc_aggregate(MEASURES, qrel_rows, run_rows)
    return {str(m): round(float(agg[m]), 4) for m in MEASURES}


def run_mode(name: str, docs: list[dict[str, Any]], qrels, queries, *, mode: str, max_length: int, root) -> dict[str, Any]:
    pair = EncoderPair.from_pretrained(model=str(MODEL), doc_max_length=max_length, long_docs=mode, device="cpu")
    tok = pair.document.mlm.tokenizer
    lengths = [len(x) for x in tok([d["text"] for d in docs], add_special_tokens=False, verbose=False)["input_ids"]]
    seqs = len(pair.document._sequences([d["text"] for d in docs])[0])
    store_dir = root / name
    shutil.rmtree(store_dir, ignore_errors=True)
    load = os.getloadavg()[0]
    with EdgeStore(store_dir) as store:
        report = ingest(store, name, docs, pair=pair, show_progress=False)
        searcher = Searcher(store, name, query_encoder=pair.query)
        judged = [q for q in queries if q in qrels]
        t0 = time.perf_counter()
        hits = searcher.search_batch([queries[q] for q in judged], limit=100)
        search_s = time.perf_counter() - t0
    run = {q: [(h.id, h.score) for h in row] for q, row in zip(judged, hits)}
    return {
        "collection": name,
        "long_docs": mode,
        "documents": len(docs),
        "tokens_per_doc_mean": round(float(np.mean(lengths)), 1),
        "tokens_per_doc_p95": int(np.percentile(lengths, 95)),
        "sequences_encoded": seqs,
        "ingest_seconds": round(report.seconds, 1),
        "ingest_docs_per_s": round(report.docs_per_s, 2),
        "avg_nonzero_terms": round(report.avg_nnz, 1),
        "queries": len(judged),
        "search_batch_seconds": round(search_s, 2),
        "load_average_1m_at_start": round(load, 2),
        **score(qrels, run),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--span", type=int, default=5, help="Cranfield documents per long document")
    ap.add_argument("--max-length", type=int, default=256, help="document tokens incl. [CLS]/[SEP]")
    ap.add_argument("--no-original", action="store_true", help="skip the short-document anchor row")
    args = ap.parse_args()
    with open(DATA / "corpus.jsonl", encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh if line.strip()]
    queries, qrels = load_queries(DATA), load_qrels(DATA)
    long_docs, long_qrels = long_collection(docs, qrels, args.span)
    root = REPO / ".bench" / "long_docs"
    results = []
    if not args.no_original:
        short = [{"_id": d["_id"], "title": d.get("title", ""), "text": d["text"]} for d in docs]
        results.append(run_mode("cranfield", short, qrels, queries, mode="truncate", max_length=args.max_length, root=root))
        print(results[-1], flush=True)
    for mode in ("truncate", "window", "chunk"):
        results.append(run_mode(f"cranfield-long{args.span}-{mode}", long_docs, long_qrels, queries, mode=mode,
                                max_length=args.max_length, root=root))
        print(results[-1], flush=True)
    shutil.rmtree(root, ignore_errors=True)
    headers = ["collection", "long_docs", "tokens/doc", "seqs", "ingest docs/s", "nnz", "nDCG@10", "R@100"]
    rows = [[r["collection"], r["long_docs"], r["tokens_per_doc_mean"], r["sequences_encoded"], r["ingest_docs_per_s"],
             r["avg_nonzero_terms"], r["nDCG@10"], r["R@100"]] for r in results]
    print(table(headers, rows))
    print(f"saved {save('long_docs', {'span': args.span, 'max_length': args.max_length, 'results': results})}")


if __name__ == "__main__":
    main()
