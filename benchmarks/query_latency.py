"""Query latency, upsert throughput, memory and disk on the embedded store, 10k → 1M documents.

Documents: real splade-tiny vectors of the 11,429 Vaswani abstracts (truncation 256), reused
with new ids up to 100k points; the 1M point uses synthetic vectors drawn from the real
vectors' statistics (non-zero count, term frequencies and weights resampled independently).
Dense side (hybrid rows, up to 100k points): random unit 384-d vectors (synthetic) — the point is
engine cost; the 1M point is sparse-only (an HNSW build of 1M dense vectors takes over 30 minutes
on 2 cores and says nothing about SPLADE).
Queries: the 318 real Vaswani + Cranfield queries, encoded on the CPU each time (end to end
= query encoding + search). Each size runs in a fresh process so memory figures are clean.
qdrant-client's local mode is measured on the same data at 5k points (what it can bear).

    python benchmarks/query_latency.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import MODEL, REPO, doc_texts, query_texts, save, table

CACHE = REPO / ".bench" / "vaswani_vectors.npz"
DENSE_DIM = 384
DENSE_UP_TO = 100_000  #: larger sizes are sparse-only


def real_vectors() -> tuple[list[np.ndarray], list[np.ndarray]]:
    from splade_qdrant.encoder import SpladeEncoder

    if not CACHE.exists():
        enc = SpladeEncoder.from_pretrained(str(MODEL), max_length=256, long_docs="truncate")
        vecs = enc.encode(doc_texts("vaswani"))
        CACHE.parent.mkdir(exist_ok=True)
        np.savez(CACHE, lengths=[len(v) for v in vecs], indices=np.concatenate([v.indices for v in vecs]),
                 values=np.concatenate([v.values for v in vecs]))
    with np.load(CACHE) as data:  # read each array once (NpzFile re-reads on every access)
        lengths, indices, values = data["lengths"], data["indices"], data["values"]
    offs = np.concatenate([[0], np.cumsum(lengths)])
    idx = [indices[offs[i]:offs[i + 1]] for i in range(len(offs) - 1)]
    val = [values[offs[i]:offs[i + 1]] for i in range(len(offs) - 1)]
    return idx, val


def points(n: int, rng: np.random.Generator, *, dense: bool):
    from splade_qdrant.ingest import point_id
    from splade_qdrant.sparse import SparseVector
    from splade_qdrant.store.base import PointRecord

    idx, val = real_vectors()
    synthetic = n > 100_000
    if synthetic:
        lengths = np.array([len(i) for i in idx])
        all_terms = np.concatenate(idx)
        terms, counts = np.unique(all_terms, return_counts=True)
        cdf = np.cumsum(counts / counts.sum())
        all_vals = np.concatenate(val)
    for k in range(n):
        if synthetic:
            nnz = int(rng.choice(lengths))
            t = np.unique(terms[np.minimum(np.searchsorted(cdf, rng.random(nnz)), len(terms) - 1)])
            sv = SparseVector.from_arrays(t, rng.choice(all_vals, size=t.size))
        else:
            j = k % len(idx)
            sv = SparseVector(idx[j].astype(np.int32), val[j].astype(np.float32))
        vec = None
        if dense:
            vec = rng.standard_normal(DENSE_DIM).astype(np.float32)
            vec /= np.linalg.norm(vec)
        yield PointRecord(point_id(f"d{k}"), sv, {"doc_id": f"d{k}"}, vec)


def dir_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def percentiles(xs: list[float]) -> tuple[float, float]:
    a = np.asarray(xs) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def run_size(n: int, local: bool) -> dict:
    from splade_qdrant.encoder import SpladeEncoder
    from splade_qdrant.store.base import CollectionSpec, DenseQuery, DenseSpec, FusedQuery, SparseQuery

    rng = np.random.default_rng(0)
    tmp = tempfile.mkdtemp(prefix="sq-lat-")
    if local:
        from splade_qdrant.store.remote import RemoteStore
        store = RemoteStore(path=f"{tmp}/store")
    else:
        from splade_qdrant.store.edge import EdgeStore
        store = EdgeStore(f"{tmp}/store")
    hybrid_on = n <= DENSE_UP_TO
    store.create_collection("c", CollectionSpec(dense=DenseSpec("dense", DENSE_DIM) if hybrid_on else None))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    batch, t_up = [], 0.0
    for p in points(n, rng, dense=hybrid_on):
        batch.append(p)
        if len(batch) == 1024:
            t0 = time.perf_counter(); store.upsert("c", batch); t_up += time.perf_counter() - t0
            batch = []
    if batch:
        t0 = time.perf_counter(); store.upsert("c", batch); t_up += time.perf_counter() - t0
    t0 = time.perf_counter(); store.optimize("c"); t_opt = time.perf_counter() - t0
    enc = SpladeEncoder.from_pretrained(str(MODEL), side="query", max_length=64, long_docs="truncate")
    queries = query_texts("vaswani") + query_texts("cranfield")
    if local:
        queries = queries[:10]
    for q in queries[:5]:
        enc.encode([q])
    e2e, search_only, encode_only, hybrid = [], [], [], []
    for q in queries:
        t0 = time.perf_counter()
        v = enc.encode([q])[0]
        t1 = time.perf_counter()
        store.query("c", SparseQuery(v, "splade"), limit=10)
        t2 = time.perf_counter()
        e2e.append(t2 - t0); search_only.append(t2 - t1); encode_only.append(t1 - t0)
        if not hybrid_on:
            continue
        d = rng.standard_normal(DENSE_DIM).astype(np.float32)
        t3 = time.perf_counter()
        store.query("c", FusedQuery([SparseQuery(v, "splade"), DenseQuery(d, "dense")], "rrf", 100, 61), limit=10)
        hybrid.append(time.perf_counter() - t3)
    out = {
        "documents": n,
        "store": store.kind,
        "synthetic_vectors": n > 100_000,
        "upsert_points_per_s": n / t_up,
        "optimize_s": t_opt,
        "disk_bytes_per_doc": dir_bytes(f"{tmp}/store") / n,
        "rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024,
        "queries": len(queries),
    }
    out["e2e_p50_ms"], out["e2e_p99_ms"] = percentiles(e2e)
    out["search_p50_ms"], out["search_p99_ms"] = percentiles(search_only)
    if hybrid_on:
        out["hybrid_search_p50_ms"], out["hybrid_search_p99_ms"] = percentiles(hybrid)
        out["hybrid_e2e_p50_ms"], out["hybrid_e2e_p99_ms"] = percentiles([a + b for a, b in zip(encode_only, hybrid)])
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)  # up to ~3 GB at 1M points
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--local", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_size(args.one, args.local)))
        return
    real_vectors()
    rows = []
    runs = [(n, False) for n in args.sizes] + [(5_000, True)]
    for n, local in runs:
        cmd = [sys.executable, __file__, "--one", str(n)] + (["--local"] if local else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            raise SystemExit(proc.returncode)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"done {n} ({rows[-1]['store']}): {json.dumps(rows[-1])}", file=sys.stderr)
        save("query_latency", {"runs": rows})  # partial results survive an interrupted run
    print(table(
        ["store", "docs", "vectors", "upsert pts/s", "disk B/doc", "RSS MB", "e2e p50 ms", "e2e p99 ms", "search p50", "hybrid search p50", "hybrid e2e p50", "hybrid e2e p99"],
        [[r["store"], r["documents"], "synthetic" if r["synthetic_vectors"] else "real", f"{r['upsert_points_per_s']:.0f}",
          f"{r['disk_bytes_per_doc']:.0f}", f"{r['rss_growth_mb']:.0f}", f"{r['e2e_p50_ms']:.2f}", f"{r['e2e_p99_ms']:.2f}",
          f"{r['search_p50_ms']:.2f}", *(f"{r[k]:.2f}" if k in r else "—" for k in ("hybrid_search_p50_ms", "hybrid_e2e_p50_ms", "hybrid_e2e_p99_ms"))] for r in rows]))
    print("saved", save("query_latency", {"runs": rows}))


if __name__ == "__main__":
    main()
