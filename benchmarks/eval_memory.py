"""Peak memory of ``splade-qdrant eval`` as the query set grows.

A Qdrant Edge collection of the 1,400 Cranfield documents is ingested once (splade-tiny). A
BEIR folder is then written for each size N: Cranfield's 225 judged queries repeated N / 225
times under new ids, each copy with the original's judgements, and ``splade-qdrant eval`` runs
it with ``--limit 1000`` (1,000 hits per query, R@1000 reported) in its own process, sampled
like ``memory.py`` (peak ``RssAnon``; overall peak from the kernel). A run held whole would
grow by ~1,000 hit tuples per query; ``evaluate`` scores and forgets 256 queries at a time.

Goal (issue 14 item 5, "the same for eval"): flat (<= 10% growth from the smallest N to the largest).

    python benchmarks/eval_memory.py [--repeats 4 16 64]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from _common import MODEL, SHARED, save, table
from memory import _run

CRANFIELD = SHARED / "datasets" / "cranfield"


def _dataset(folder: Path, repeats: int) -> int:
    """Write queries.jsonl and qrels/test.tsv with Cranfield's judged queries ``repeats`` times."""
    qrels: dict[str, list[str]] = {}
    for line in (CRANFIELD / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        if line:
            qrels.setdefault(line.split("\t")[0], []).append(line)
    queries = [q for q in map(json.loads, (CRANFIELD / "queries.jsonl").read_text(encoding="utf-8").splitlines()) if q["_id"] in qrels]
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as qf, open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as rf:
        rf.write("query-id\tcorpus-id\tscore\n")
        for r in range(repeats):
            for q in queries:
                qid = f"r{r}-{q['_id']}"
                qf.write(json.dumps({"_id": qid, "text": q["text"]}) + "\n")
                rf.writelines(qid + row[row.index("\t") :] + "\n" for row in qrels[q["_id"]])
    return repeats * len(queries)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, nargs="+", default=[4, 16, 64], help="copies of the 225 judged queries per run")
    args = ap.parse_args()
    py = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="sq-eval-mem-"))
    rows, results = [], []
    try:
        store = ["--store", str(tmp / "store"), "-c", "cran", "--model", str(MODEL)]
        _run([py, "-m", "splade_qdrant", "ingest", str(CRANFIELD / "corpus.jsonl"), *store, "--no-progress"])
        for repeats in args.repeats:
            folder = tmp / f"x{repeats}"
            n = _dataset(folder, repeats)
            run = _run([py, "-m", "splade_qdrant", "eval", str(folder), *store, "--limit", "1000", "--json"])
            metrics = json.loads(run["stdout"])
            r = {"queries": n, "peak_mb": run["peak_mb"], "anon_mb": run["anon_mb"], "wall_s": run["wall_s"], "eval": metrics}
            results.append(r)
            rows.append([n, f"{run['peak_mb']:.0f}", f"{run['anon_mb']:.0f}", f"{n / run['wall_s']:.0f}"])
            print(json.dumps({k: v for k, v in r.items() if k != "eval"}), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    growth = results[-1]["anon_mb"] / results[0]["anon_mb"] - 1
    print(table(["queries (1,000 hits each)", "eval peak RSS MB", "eval peak anon MB", "queries/s (incl. startup)"], rows))
    print(f"anonymous peak growth {results[0]['queries']} -> {results[-1]['queries']} queries: {100 * growth:+.1f}%")
    print("saved", save("eval_memory", {"results": results, "anon_growth": growth}))


if __name__ == "__main__":
    main()
