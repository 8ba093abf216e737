"""Peak memory of Qdrant Edge itself while N points are written (no encoder in the process).

Writes N synthetic points shaped like ``memory.py``'s ingest (``--nnz`` sparse terms on average,
payload ``doc_id`` + ``content_hash``, batches of 256, ``optimize()`` at the end) into a fresh
embedded store through the library's ``Store`` interface, and reports the process's peak RSS
minus its RSS before the store was opened: the store's own write-time share, to set beside
``memory.py``'s ingest peaks.

    python benchmarks/store_memory.py [--sizes 10000 100000 1000000] [--nnz 13]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile

from _common import REPO, save, table

_WRITER = """
import resource, sys, uuid
import numpy as np
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store import open_store
from splade_qdrant.store.spec import CollectionSpec
from splade_qdrant.store.types import PointRecord
n, nnz, path = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
store = open_store(path)
store.create_collection("m", CollectionSpec())
rng = np.random.default_rng(0)
for s in range(0, n, 256):
    points = []
    for i in range(s, min(s + 256, n)):
        idx = np.unique(rng.integers(0, 30522, max(1, int(rng.poisson(nnz))))).astype(np.int32)
        vec = SparseVector(idx, rng.random(len(idx)).astype(np.float32))
        points.append(PointRecord(str(uuid.uuid5(uuid.NAMESPACE_URL, str(i))), vec, {"doc_id": f"d{i}", "content_hash": f"{i:064x}"}))
    store.upsert("m", points)
store.optimize("m")
print(base, store.count("m"))
store.close()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--nnz", type=float, default=13.0, help="average sparse terms per point")
    args = ap.parse_args()
    rows, results = [], []
    for n in args.sizes:
        tmp = tempfile.mkdtemp(prefix="sq-store-mem-")
        try:
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            out = subprocess.run([sys.executable, "-c", _WRITER, str(n), str(args.nnz), f"{tmp}/store"], cwd=REPO,
                                 capture_output=True, text=True, check=True).stdout
            peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            if peak_kb <= before:
                raise RuntimeError("a child with a lower peak than an earlier one cannot be measured this way: run sizes ascending")
            base_kb, count = (int(x) for x in out.split())
            assert count == n, f"wrote {count} of {n}"
            r = {"points": n, "peak_mb": peak_kb / 1024, "baseline_mb": base_kb / 1024, "store_share_mb": (peak_kb - base_kb) / 1024}
            results.append(r)
            rows.append([n, f"{r['peak_mb']:.0f}", f"{r['baseline_mb']:.0f}", f"{r['store_share_mb']:.0f}"])
            print(json.dumps(r), file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(table(["points", "writer peak RSS MB", "before the store MB", "store's write-time share MB"], rows))
    print("saved", save("store_memory", {"nnz": args.nnz, "results": results}))


if __name__ == "__main__":
    main()
