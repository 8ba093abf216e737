"""Peak memory of ``splade-qdrant ingest`` as the corpus grows, with the store's share separated.

For each size N, a synthetic corpus of N short documents (words drawn from Cranfield's
vocabulary, ``--words`` 8-40 by default, fixed seed) is ingested by the CLI into a fresh Qdrant
Edge store (splade-tiny, ``--long-docs truncate``) in its own process. Then Qdrant Edge alone
writes as many points of the same shape (``store_memory.py``'s writer: as many terms per point
as the ingested vectors have on average, measured on the corpus; the same payload keys, batches
of 256, ``optimize()``) in a process without the encoder.

Both processes are sampled every 0.1 s from ``/proc/<pid>/status``: the peak of ``RssAnon``
(heap: Python, torch, Edge's in-memory segments and indexes) and of ``RssFile`` (file-backed
pages: shared libraries and the store's memory-mapped segment files); the overall peak is the
kernel's ``ru_maxrss``. The pipeline's share is ``ingest anonymous peak - Edge-alone anonymous
peak``: what the encoder, reader, writer thread and Python hold beyond what Edge itself holds
while it writes. File-backed pages are the libraries and the store's files, not the pipeline's.

Goal (issue 14 item 5): the pipeline's share is flat (<= 10% growth from the smallest to the
largest N).

    python benchmarks/memory.py [--sizes 2000 10000 50000] [--words 8 40] [--nnz N]
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
from store_memory import _WRITER


def _corpus(path: str, n: int, lo: int = 8, hi: int = 40) -> None:
    words = np.array(sorted({w for t in doc_texts("cranfield") for w in t.lower().split() if w.isalpha()}))  # once: not per document
    rng = np.random.default_rng(0)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            text = " ".join(rng.choice(words, size=int(rng.integers(lo, hi + 1))))
            fh.write(json.dumps({"_id": f"d{i}", "text": text}) + "\n")


_MEAN_TERMS = """
import json, sys
import numpy as np
from splade_qdrant.encoder import SpladeEncoder
texts = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8")]
encoder = SpladeEncoder.from_pretrained(sys.argv[2], side="document", long_docs="truncate")
print(float(np.mean([len(v.indices) for v in encoder.encode(texts)])))
"""


def _mean_terms(n: int, lo: int, hi: int) -> float:
    """Mean non-zero terms of the ingested vectors: splade-tiny on the first ``min(n, 2000)``
    synthetic documents (what Edge alone must write to hold the same index). In a child
    process: a parent that had loaded torch would be counted in every later child's peak RSS
    (``ru_maxrss`` includes the forked image before ``exec``)."""
    with tempfile.TemporaryDirectory() as tmp:
        _corpus(f"{tmp}/sample.jsonl", min(n, 2000), lo, hi)
        out = subprocess.run([sys.executable, "-c", _MEAN_TERMS, f"{tmp}/sample.jsonl", str(MODEL)], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    return float(out.split()[-1])


def _run(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd`` to the end, sampling its memory; peaks in MB, its wall seconds, its stdout."""
    t0 = time.perf_counter()
    peaks = {"RssAnon": 0, "RssFile": 0}
    series: list[tuple[float, float]] = []  # (seconds, RssAnon MB), one sample a second
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, cwd=REPO)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                with open(f"/proc/{proc.pid}/status", encoding="ascii") as fh:
                    for line in fh:
                        key, _, value = line.partition(":")
                        if key in peaks:
                            kb = int(value.split()[0])
                            peaks[key] = max(peaks[key], kb)
                            if key == "RssAnon" and time.perf_counter() - t0 >= len(series):
                                series.append((round(time.perf_counter() - t0, 1), kb / 1024))
            except (FileNotFoundError, ProcessLookupError):
                pass
            time.sleep(0.1)
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        out.seek(0)
        text = out.read()
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} exited {code}")
    return {"peak_mb": usage.ru_maxrss / 1024, "anon_mb": peaks["RssAnon"] / 1024, "file_mb": peaks["RssFile"] / 1024,
            "wall_s": time.perf_counter() - t0, "stdout": text, "anon_series": series}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 50000])
    ap.add_argument("--words", type=int, nargs=2, default=[8, 40], metavar=("MIN", "MAX"),
                    help="words per synthetic document (short documents make 1M feasible on a small machine)")
    ap.add_argument("--nnz", type=float, default=None, help="terms per point Edge alone writes (default: measured on the corpus)")
    args = ap.parse_args()
    py = sys.executable
    if args.nnz is None:
        args.nnz = _mean_terms(min(args.sizes), *args.words)
    rows, results = [], []
    for n in args.sizes:
        tmp = tempfile.mkdtemp(prefix="sq-mem-")
        try:
            _corpus(f"{tmp}/corpus.jsonl", n, *args.words)
            ingest = _run([py, "-m", "splade_qdrant", "ingest", f"{tmp}/corpus.jsonl", "-c", "m", "--store", f"{tmp}/store",
                           "--model", str(MODEL), "--long-docs", "truncate", "--no-progress"])
            edge = _run([py, "-c", _WRITER, str(n), str(args.nnz), f"{tmp}/alone"])
            assert int(edge["stdout"].split()[1]) == n, f"Edge alone wrote {edge['stdout']!r}, not {n} points"
            r = {"documents": n, "ingest_s": ingest["wall_s"],
                 **{f"ingest_{k}": v for k, v in ingest.items() if k.endswith("_mb")},
                 **{f"edge_alone_{k}": v for k, v in edge.items() if k.endswith("_mb")},
                 "ingest_anon_series": ingest["anon_series"], "edge_alone_anon_series": edge["anon_series"],
                 "pipeline_share_mb": ingest["anon_mb"] - edge["anon_mb"]}
            results.append(r)
            rows.append([n, f"{ingest['peak_mb']:.0f}", f"{ingest['anon_mb']:.0f}", f"{ingest['file_mb']:.0f}",
                         f"{edge['anon_mb']:.0f}", f"{edge['file_mb']:.0f}", f"{r['pipeline_share_mb']:.0f}", f"{n / ingest['wall_s']:.0f}"])
            print(json.dumps(r), file=sys.stderr, flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    growth = results[-1]["pipeline_share_mb"] / results[0]["pipeline_share_mb"] - 1
    print(table(["documents", "ingest peak RSS MB", "ingest anon MB", "ingest file MB", "Edge alone anon MB", "Edge alone file MB",
                 "pipeline share MB (anon - Edge anon)", "ingest docs/s"], rows))
    print(f"pipeline share growth {results[0]['documents']} -> {results[-1]['documents']}: {100 * growth:+.1f}%")
    print("saved", save("memory", {"words": args.words, "nnz": args.nnz, "results": results, "pipeline_growth": growth}))


if __name__ == "__main__":
    main()
