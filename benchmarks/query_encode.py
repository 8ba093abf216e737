"""Query encoding latency: splade_qdrant vs plain transformers, one query at a time.

REFERENCE.md's anchor: plain transformers eager, tokenize + forward + max + non-zero
extraction, one thread, splade-tiny (the BERT-tiny query-encoder shape). Both sides run in
this process on the same 318 Vaswani + Cranfield queries (truncation 64), interleaved query
by query so machine noise hits both alike; the vectors are compared (max |Δ|). Rows for all
queries (median 19 tokens) and for the short ones (<= 12 tokens, like REFERENCE's one query).
"torch threads" is the caller's setting (what the plain side uses); splade_qdrant runs a query
on the calling thread with one torch thread whatever it is (splade_qdrant._threads).

    python benchmarks/query_encode.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import MODEL, query_texts, save, table

from splade_qdrant.encoder import SpladeEncoder

SHORT_TOKENS = 12  #: "short query" (special tokens included), REFERENCE's anchor shape


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3, help="passes over the queries")
    args = ap.parse_args()
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(MODEL))
    model = AutoModelForMaskedLM.from_pretrained(str(MODEL)).eval()
    ours = SpladeEncoder.from_pretrained(str(MODEL), side="query", max_length=64, long_docs="truncate")
    queries = query_texts("vaswani") + query_texts("cranfield")

    @torch.inference_mode()
    def plain(q: str) -> tuple[np.ndarray, np.ndarray]:
        enc = tok([q], truncation=True, max_length=64, return_tensors="pt")
        logits = model(**enc).logits
        w = (torch.log1p(torch.relu(logits)) * enc["attention_mask"][..., None]).amax(dim=1)[0]
        idx = torch.nonzero(w).flatten()
        return idx.numpy(), w[idx].numpy()

    # REFERENCE's anchor is one short query: also report the queries of <= 12 tokens alone.
    short = np.array([len(tok(q)["input_ids"]) <= SHORT_TOKENS for q in queries] * args.rounds)
    rows, result = [], {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for q in queries[:20]:
            plain(q), ours.encode([q])
        times: dict[str, list[float]] = {"plain transformers": [], "splade_qdrant": []}
        worst = 0.0
        for _ in range(args.rounds):
            for q in queries:
                t0 = time.perf_counter()
                pi, pv = plain(q)
                t1 = time.perf_counter()
                v = ours.encode([q])[0]
                t2 = time.perf_counter()
                times["plain transformers"].append(t1 - t0)
                times["splade_qdrant"].append(t2 - t1)
                a, b = np.zeros(30522, np.float32), np.zeros(30522, np.float32)
                a[pi], b[v.indices] = pv, v.values
                worst = max(worst, float(np.abs(a - b).max()))
        for name, ts in times.items():
            for subset, pick in (("all", slice(None)), (f"<= {SHORT_TOKENS} tokens", short)):
                ms = np.asarray(ts)[pick] * 1000
                p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
                key = f"{name} threads={threads}" + ("" if subset == "all" else f" short<={SHORT_TOKENS}")
                result[key] = {"p50_ms": p50, "p99_ms": p99, "mean_ms": float(ms.mean()), "queries": int(len(ms) // args.rounds)}
                rows.append([name, subset, threads, f"{p50:.2f}", f"{p99:.2f}", f"{ms.mean():.2f}"])
        result[f"max_abs_diff threads={threads}"] = worst
        rows.append(["max |Δ| (ours vs plain)", "all", threads, f"{worst:.1e}", "", ""])
    print(table(["query encoder", "queries", "torch threads", "p50 ms", "p99 ms", "mean ms"], rows))
    print("saved", save("query_encode", {"queries": len(queries), "rounds": args.rounds, "results": result}))


if __name__ == "__main__":
    main()
