"""migrate throughput: points/s copying a collection between stores, verification included.

Synthetic points shaped like SPLADE document vectors (120 non-zero terms out of 30,522,
Zipf-distributed term ids, positive weights) with a small payload, written once into a Qdrant
Edge store, then copied Edge → Edge and Edge → qdrant-client local path (slower: pure
Python, so fewer points), each with the verification (counts, 100 sampled points, 10 top-10
queries) that ``migrate`` runs; a rerun measures how fast a finished copy is skipped.

    python benchmarks/migrate.py [--n 20000] [--n-local 3000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid

import numpy as np
from _common import save, table

from splade_qdrant.migrate import migrate, open_location
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store import CollectionSpec, PointRecord

VOCAB, NNZ = 30_522, 120


def _points(n: int, seed: int = 0) -> list[PointRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        idx = np.unique(np.minimum(rng.zipf(1.3, size=NNZ * 2), VOCAB) - 1)[:NNZ].astype(np.int64)
        vals = (rng.random(len(idx)) * 2 + 0.05).astype(np.float32)
        out.append(PointRecord(str(uuid.uuid5(uuid.NAMESPACE_OID, str(i))), SparseVector.from_arrays(idx, vals),
                               {"doc_id": str(i), "content_hash": f"{i:024x}", "lang": "en"}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20_000, help="points for Edge → Edge")
    ap.add_argument("--n-local", type=int, default=3_000, help="points for Edge → qdrant-client local path")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sq-migrate-")
    rows, results = [], {}
    try:
        for label, n, kind in (("Edge → Edge", args.n, "edge"), ("Edge → qdrant-client local path", args.n_local, "local")):
            src = open_location(f"{tmp}/src-{kind}")
            src.create_collection("docs", CollectionSpec(metadata={"encoder": "synthetic"}, payload_indexes={"lang": "keyword"}))
            points = _points(n)
            for start in range(0, n, 1000):
                src.upsert("docs", points[start : start + 1000])
            src.optimize("docs")
            dst = open_location(f"{tmp}/dst-edge") if kind == "edge" else open_location(local_path=f"{tmp}/dst-local")
            t0 = time.perf_counter()
            report = migrate(src, dst, "docs", show_progress=False)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = migrate(src, dst, "docs", show_progress=False)
            rerun = time.perf_counter() - t0
            assert report.verified and again.copied == 0 and again.skipped_existing == n
            results[kind] = {"points": n, "seconds": first, "points_per_s": n / first, "rerun_seconds": rerun, "rerun_points_per_s": n / rerun}
            rows.append([label, n, f"{first:.1f}", f"{n / first:,.0f}", f"{rerun:.1f}", f"{n / rerun:,.0f}"])
            src.close()
            dst.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"synthetic SPLADE-shaped points ({NNZ} non-zero terms), migrate with verification")
    print(table(["copy", "points", "seconds", "points/s", "rerun (all skipped) s", "rerun points/s"], rows))
    print(f"\nwrote {save('migrate', results)}")


if __name__ == "__main__":
    main()
