"""Peak memory of ``splade-qdrant ingest`` as the corpus grows, with the store's share separated.

For each size N, a synthetic corpus of N short documents (words drawn from Cranfield's
vocabulary, ``--words`` 8-40 by default, fixed seed) is ingested by the CLI into a fresh Qdrant Edge store
(splade-tiny, ``--long-docs truncate``) in its own process; its peak RSS is read from the
kernel (``wait4``'s ``ru_maxrss``). Then the finished store is opened *alone* in another
process that reads the collection's info and scrolls every point id — its peak RSS is the
store's share, and so is the same process's RSS with nothing opened ("baseline": Python +
the library's imports). The pipeline's share is ``ingest peak - store alone``. Because Qdrant
Edge holds more while it is being written (mutable segments, indexes built in memory) than
when a finished store is opened, a second measure copies the ingested points into a fresh
store in a process without the encoder: its peak minus its baseline is the store's
write-time share, and ``ingest peak - that`` the pipeline's share by the stricter measure.

Goal (issue 14 item 5): the pipeline's share is flat (<= 10% growth from the smallest to the
largest N).

    python benchmarks/memory.py [--sizes 2000 10000 50000] [--words 8 40]
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

import numpy as np

from _common import MODEL, REPO, doc_texts, save, table

_STORE_ALONE = """
import resource, sys
from splade_qdrant.store import open_store
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
store = open_store(sys.argv[1])
n = store.count(sys.argv[2]) if hasattr(store, "count") else None
store.close()
print(base, n)
"""

# The store's write-time share: the same points written into a fresh store by a process
# that has no encoder (Qdrant Edge keeps mutable segments and builds indexes in memory, so
# a store being written holds more than the finished store opened alone).
_STORE_WRITE = """
import resource, sys
from splade_qdrant.store import open_store
from splade_qdrant.store.types import PointRecord
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
src, dst, name = open_store(sys.argv[1]), open_store(sys.argv[3]), sys.argv[2]
dst.create_collection(name, src.spec(name))
batch = []
for p in src.iter_points(name, batch_size=256, with_vectors=True):
    batch.append(PointRecord(p.id, p.sparse, p.payload, p.dense))
    if len(batch) == 256:
        dst.upsert(name, batch)
        batch = []
dst.upsert(name, batch)
dst.optimize(name)
print(base, dst.count(name))
src.close()
dst.close()
"""


def _corpus(path: str, n: int, lo: int = 8, hi: int = 40) -> None:
    words = sorted({w for t in doc_texts("cranfield") for w in t.lower().split() if w.isalpha()})
    rng = np.random.default_rng(0)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            text = " ".join(rng.choice(words, size=int(rng.integers(lo, hi + 1))))
            fh.write(json.dumps({"_id": f"d{i}", "text": text}) + "\n")


def _run(cmd: list[str]) -> tuple[float, str, float]:
    """Run ``cmd`` to the end; (its peak RSS in MB, its stdout, wall seconds)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} exited {proc.returncode}")
    return usage.ru_maxrss / 1024, text, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 50000])
    ap.add_argument("--words", type=int, nargs=2, default=[8, 40], metavar=("MIN", "MAX"),
                    help="words per synthetic document (short documents make 1M feasible on a small machine)")
    args = ap.parse_args()
    py = sys.executable
    rows, results = [], []
    for n in args.sizes:
        tmp = tempfile.mkdtemp(prefix="sq-mem-")
        try:
            _corpus(f"{tmp}/corpus.jsonl", n, *args.words)
            ingest_mb, _, wall = _run([py, "-m", "splade_qdrant", "ingest", f"{tmp}/corpus.jsonl", "-c", "m", "--store", f"{tmp}/store",
                                       "--model", str(MODEL), "--long-docs", "truncate", "--no-progress"])
            store_mb, out, _ = _run([py, "-c", _STORE_ALONE, f"{tmp}/store", "m"])
            base_kb, _count = out.split()
            base_mb = int(base_kb) / 1024
            write_mb, out, _ = _run([py, "-c", _STORE_WRITE, f"{tmp}/store", "m", f"{tmp}/copy"])
            write_base_kb, copied = out.split()
            assert int(copied) == n, f"store writer copied {copied} of {n} points"
            write_share = write_mb - int(write_base_kb) / 1024
            r = {"documents": n, "ingest_peak_mb": ingest_mb, "store_alone_peak_mb": store_mb, "baseline_mb": base_mb,
                 "store_share_mb": store_mb - base_mb, "pipeline_share_mb": ingest_mb - store_mb,
                 "store_writer_peak_mb": write_mb, "store_write_share_mb": write_share,
                 "pipeline_share_vs_writer_mb": ingest_mb - write_share, "ingest_s": wall}
            results.append(r)
            rows.append([n, f"{ingest_mb:.0f}", f"{store_mb - base_mb:.0f}", f"{ingest_mb - store_mb:.0f}",
                         f"{write_share:.0f}", f"{ingest_mb - write_share:.0f}", f"{n / wall:.0f}"])
            print(rows[-1], file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    growth = results[-1]["pipeline_share_mb"] / results[0]["pipeline_share_mb"] - 1
    growth_w = results[-1]["pipeline_share_vs_writer_mb"] / results[0]["pipeline_share_vs_writer_mb"] - 1
    print(table(["documents", "ingest peak RSS MB", "store opened alone: share MB", "ingest - store opened alone MB",
                 "store written alone: share MB", "ingest - store written alone MB", "docs/s"], rows))
    print(f"growth {results[0]['documents']} -> {results[-1]['documents']}: ingest - store opened alone {100 * growth:+.1f}%, "
          f"ingest - store written alone {100 * growth_w:+.1f}%")
    print("saved", save("memory", {"words": args.words, "results": results, "pipeline_growth": growth,
                                   "pipeline_growth_vs_writer": growth_w}))


if __name__ == "__main__":
    main()
