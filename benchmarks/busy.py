"""Speed on a busy machine: ingest and query encoding idle, beside a CPU-bound process, and
pinned to one CPU (``taskset -c 0``).

Each condition runs in fresh worker processes (so thread pools are sized as a user's would
be); both sides of a comparison run in the same worker, interleaved:

* ingest: splade_qdrant ``ingest`` into Qdrant Edge vs the obvious way (sentence-transformers
  ``SparseEncoder.encode_document`` + qdrant-client local mode, as ``ingest_e2e.py``), the
  first ``--docs`` Cranfield documents (truncation 256, batch 32), best of ``--rounds``;
* query encoding: splade_qdrant vs plain transformers on one torch thread (REFERENCE's
  anchor), query by query on the first ``--queries`` Cranfield queries (truncation 64).

Goals: ingest >= 3x the obvious way, query p50 >= 2x plain transformers, query p99 <= 3x the
idle p99, in every condition. The "busy" neighbour is one ``while True: pass`` process.

    python benchmarks/busy.py [--docs 200] [--queries 150] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CONDITIONS = ("idle", "one CPU-bound process beside", "taskset -c 0")


def _ingest_worker(n_docs: int, rounds: int) -> dict[str, float]:
    from splade_qdrant.ingest import ingest
    from splade_qdrant.pair import EncoderPair
    from splade_qdrant.store import open_store

    from _common import MODEL, SHARED

    corpus = SHARED / "datasets" / "cranfield" / "corpus.jsonl"
    with open(corpus, encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh][:n_docs]
    texts = [f"{d['title'].strip()} {d['text'].strip()}".strip() for d in docs]
    tmp = tempfile.mkdtemp(prefix="sq-busy-")
    subset = f"{tmp}/corpus.jsonl"
    with open(subset, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in docs)
    pair = EncoderPair.from_pretrained(str(MODEL), doc_max_length=256, query_max_length=64, long_docs="truncate")
    pair.document.encode(texts[:32])

    from qdrant_client import QdrantClient, models
    from sentence_transformers import SparseEncoder

    st = SparseEncoder(str(MODEL), device="cpu")
    st.max_seq_length = 256
    st.encode_document(texts[:32], batch_size=32)

    def ours(r: int) -> float:
        store = open_store(f"{tmp}/edge{r}")
        t0 = time.perf_counter()
        ingest(store, "c", subset, pair=pair, show_progress=False)
        dt = time.perf_counter() - t0
        store.close()
        return dt

    def obvious(r: int) -> float:
        client = QdrantClient(path=f"{tmp}/local{r}")
        client.create_collection("c", sparse_vectors_config={"splade": models.SparseVectorParams()})
        t0 = time.perf_counter()
        for i in range(0, len(texts), 32):
            emb = st.encode_document(texts[i : i + 32], batch_size=32, convert_to_tensor=True).coalesce()
            idx, val = emb.indices().numpy(), emb.values().numpy()
            points = []
            for r_ in range(len(texts[i : i + 32])):
                m = idx[0] == r_
                sv = models.SparseVector(indices=idx[1][m].tolist(), values=val[m].tolist())
                points.append(models.PointStruct(id=str(uuid.uuid4()), vector={"splade": sv}, payload={"doc_id": docs[i + r_]["_id"]}))
            client.upsert("c", points)
        dt = time.perf_counter() - t0
        client.close()
        return dt

    t_ours = t_obv = float("inf")
    for r in range(rounds):
        t_ours = min(t_ours, ours(r))
        t_obv = min(t_obv, obvious(r))
    shutil.rmtree(tmp, ignore_errors=True)
    return {"docs": len(texts), "ours_per_s": len(texts) / t_ours, "obvious_per_s": len(texts) / t_obv, "ratio": t_obv / t_ours}


def _query_worker(n_queries: int, rounds: int) -> dict[str, float]:
    import numpy as np
    import torch
    from splade_qdrant.encoder import SpladeEncoder
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from _common import MODEL, query_texts

    tok = AutoTokenizer.from_pretrained(str(MODEL))
    model = AutoModelForMaskedLM.from_pretrained(str(MODEL)).eval()
    ours = SpladeEncoder.from_pretrained(str(MODEL), side="query", max_length=64, long_docs="truncate")
    queries = query_texts("cranfield")[:n_queries]
    torch.set_num_threads(1)  # the anchor's setting (this benchmark process is the caller)

    @torch.inference_mode()
    def plain(q: str) -> None:
        enc = tok([q], truncation=True, max_length=64, return_tensors="pt")
        w = (torch.log1p(torch.relu(model(**enc).logits)) * enc["attention_mask"][..., None]).amax(dim=1)[0]
        torch.nonzero(w)

    for q in queries[:20]:
        plain(q), ours.encode([q])
    t_plain, t_ours = [], []
    for _ in range(rounds):
        for q in queries:
            t0 = time.perf_counter()
            plain(q)
            t1 = time.perf_counter()
            ours.encode([q])
            t2 = time.perf_counter()
            t_plain.append(t1 - t0)
            t_ours.append(t2 - t1)
    p = lambda ts, q: float(np.percentile(np.asarray(ts) * 1000, q))
    return {"queries": len(queries) * rounds, "ours_p50_ms": p(t_ours, 50), "ours_p99_ms": p(t_ours, 99),
            "plain_p50_ms": p(t_plain, 50), "plain_p99_ms": p(t_plain, 99), "p50_ratio": p(t_plain, 50) / p(t_ours, 50)}


def _run_worker(kind: str, condition: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--worker", kind, "--docs", str(args.docs), "--queries", str(args.queries),
           "--rounds", str(args.rounds)]
    if condition == "taskset -c 0":
        cmd = ["taskset", "-c", "0", *cmd]
    hog = None
    if condition == "one CPU-bound process beside":
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=Path(__file__).parent)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200, help="Cranfield documents for the ingest comparison")
    ap.add_argument("--queries", type=int, default=150, help="Cranfield queries for the query-encoding comparison")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--worker", choices=["ingest", "query"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "ingest":
        print(json.dumps(_ingest_worker(args.docs, args.rounds)))
        return
    if args.worker == "query":
        print(json.dumps(_query_worker(args.queries, args.rounds)))
        return
    from _common import save, table

    results: dict[str, dict[str, object]] = {}
    for condition in CONDITIONS:
        load = os.getloadavg()[0]
        results[condition] = {"load_avg_1min_before": load, "ingest": _run_worker("ingest", condition, args),
                              "query": _run_worker("query", condition, args)}
        print(f"{condition}: done (load average before {load:.1f})", file=sys.stderr)
    idle_p99 = results["idle"]["query"]["ours_p99_ms"]  # type: ignore[index]
    rows = []
    for condition, r in results.items():
        ing, q = r["ingest"], r["query"]
        r["p99_vs_idle"] = q["ours_p99_ms"] / idle_p99  # type: ignore[index]
        r["goals_met"] = ing["ratio"] >= 3 and q["p50_ratio"] >= 2 and r["p99_vs_idle"] <= 3  # type: ignore[index,operator]
        rows.append([condition, f"{ing['ours_per_s']:.1f}", f"{ing['obvious_per_s']:.1f}", f"{ing['ratio']:.2f}x",  # type: ignore[index]
                     f"{q['ours_p50_ms']:.2f} / {q['ours_p99_ms']:.2f}", f"{q['plain_p50_ms']:.2f} / {q['plain_p99_ms']:.2f}",  # type: ignore[index]
                     f"{q['p50_ratio']:.2f}x", f"{r['p99_vs_idle']:.2f}x", "yes" if r["goals_met"] else "no"])  # type: ignore[index]
    print(table(["condition", "ingest ours docs/s", "obvious docs/s", "ingest ratio", "query ours p50/p99 ms",
                 "plain p50/p99 ms", "p50 ratio", "p99 vs idle", "goals"], rows))
    print("saved", save("busy", {"docs": args.docs, "queries": args.queries, "rounds": args.rounds,
                                 "dataset": "cranfield", "results": results}))


if __name__ == "__main__":
    main()
