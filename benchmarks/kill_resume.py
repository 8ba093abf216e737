"""Kill an ingest with SIGKILL mid-way, rerun the same command, and check the collection.

The first ``splade-qdrant ingest --verbose`` logs each acknowledged write; once ``--kill-at``
of the corpus is acknowledged the process gets SIGKILL (no cleanup, as in a crash or an
OOM kill). The same command then runs again: it must finish with exactly one point per
document, skipping (not re-encoding) what the killed run stored.

    python benchmarks/kill_resume.py [--dataset vaswani] [--kill-at 0.5] [--baseline]

Prints a table and writes ``benchmarks/results/kill_resume.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

from _common import MODEL, REPO, SHARED, save, table

from splade_qdrant.ingest import point_id
from splade_qdrant.store.edge import EdgeStore

_WRITTEN = re.compile(r"(\d+) points written$")


def corpus_ids(path: os.PathLike[str] | str) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [str(json.loads(line)["_id"]) for line in fh if line.strip()]


def ingest_cmd(corpus: str, store: str, collection: str) -> list[str]:
    return [
        sys.executable, "-m", "splade_qdrant", "--verbose", "ingest", corpus,
        "--store", store, "-c", collection, "--model", str(MODEL), "--no-progress", "--json",
    ]


def run_and_kill(cmd: list[str], kill_at_points: int) -> dict[str, float | int]:
    """Start ``cmd``, SIGKILL it once ``kill_at_points`` writes are acknowledged."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    acked, first_write = 0, None
    assert proc.stderr is not None
    for line in proc.stderr:
        m = _WRITTEN.search(line.strip())
        if m:
            acked = int(m.group(1))
            first_write = first_write or time.perf_counter() - t0
            if acked >= kill_at_points:
                proc.send_signal(signal.SIGKILL)
                break
    killed_at = time.perf_counter() - t0
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # drain
    rc = proc.wait()
    return {"seconds_to_kill": round(killed_at, 2), "seconds_to_first_write": round(first_write or 0.0, 2),
            "acknowledged_points": acked, "returncode": rc}


def verify(store_dir: str, collection: str, ids: list[str]) -> dict[str, float | int | bool]:
    t0 = time.perf_counter()
    with EdgeStore(store_dir) as store:
        count = store.count(collection)
        seen: list[str] = []
        for s in range(0, len(ids), 1000):
            seen.extend(p.payload["doc_id"] for p in store.retrieve(collection, [point_id(i) for i in ids[s : s + 1000]]))
    return {"points": count, "distinct_doc_ids": len(set(seen)), "all_ids_present": set(seen) == set(ids),
            "verify_seconds": round(time.perf_counter() - t0, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="vaswani")
    ap.add_argument("--kill-at", type=float, default=0.5, help="fraction of the corpus acknowledged before SIGKILL")
    ap.add_argument("--baseline", action="store_true", help="also time one uninterrupted ingest")
    args = ap.parse_args()
    corpus = str((SHARED / "datasets" / args.dataset / "corpus.jsonl").resolve())
    ids = corpus_ids(corpus)
    root = REPO / ".bench" / "kill_resume"
    shutil.rmtree(root, ignore_errors=True)
    store = str(root / "store")
    cmd = ingest_cmd(corpus, store, args.dataset)

    load_before = os.getloadavg()
    killed = run_and_kill(cmd, int(args.kill_at * len(ids)))
    print(f"killed after {killed['seconds_to_kill']} s with {killed['acknowledged_points']} points acknowledged", flush=True)
    t0 = time.perf_counter()
    rerun = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    rerun_s = time.perf_counter() - t0
    if rerun.returncode != 0:
        sys.exit(f"rerun failed ({rerun.returncode}): {rerun.stderr.strip().splitlines()[-1:]}")
    report = json.loads(rerun.stdout)
    checks = verify(store, args.dataset, ids)
    result = {
        "dataset": args.dataset,
        "documents": len(ids),
        "killed_run": killed,
        "rerun": {"seconds": round(rerun_s, 2), "report": report},
        "check": checks,
        "load_average_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
        "ok": checks["points"] == len(ids) and checks["all_ids_present"] and report["skipped_unchanged"] >= killed["acknowledged_points"],
    }
    rows = [
        ["killed run (to SIGKILL)", killed["seconds_to_kill"], killed["acknowledged_points"], "-", "-"],
        ["rerun", round(rerun_s, 1), report["points_written"], report["skipped_unchanged"], report["encode_seconds"]],
    ]
    if args.baseline:
        base_store = str(root / "baseline")
        t0 = time.perf_counter()
        base = subprocess.run(ingest_cmd(corpus, base_store, args.dataset), capture_output=True, text=True, cwd=REPO, check=True)
        base_s = time.perf_counter() - t0
        result["baseline"] = {"seconds": round(base_s, 2), "report": json.loads(base.stdout)}
        rows.append(["uninterrupted ingest", round(base_s, 1), json.loads(base.stdout)["points_written"], "-", json.loads(base.stdout)["encode_seconds"]])
    print(table(["run", "wall s", "points written", "skipped unchanged", "encode s"], rows))
    print(f"final: {checks['points']} points for {len(ids)} documents, {checks['distinct_doc_ids']} distinct ids, "
          f"all present: {checks['all_ids_present']} -> {'OK' if result['ok'] else 'FAILED'}")
    print(f"saved {save('kill_resume', result)}")
    shutil.rmtree(root, ignore_errors=True)
    if not result["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
