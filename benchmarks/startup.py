"""Start-up time of the CLI: wall time of whole ``splade-qdrant`` processes.

Builds a small embedded collection once (12 Cranfield documents, splade-tiny), then times
``info``, ``list``, ``search --help``, an argument error (``search --limit 0``) and, for
comparison, a real ``search`` (which loads the query encoder), each as a fresh
``python -m splade_qdrant`` process. Reports the median and best of N runs and whether the
process imported torch (``-X importtime``). Target: ``info`` under 1 s on this machine.

    python benchmarks/startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import MODEL, REPO, SHARED, save, table


def run_once(argv: list[str]) -> tuple[float, int, bool]:
    """Wall seconds, exit status and whether torch was imported, of one CLI process."""
    cmd = [sys.executable, "-X", "importtime", "-m", "splade_qdrant", *argv]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    wall = time.perf_counter() - t0
    torch = any(line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == "torch" for line in proc.stderr.splitlines())
    return wall, proc.returncode, torch


def run_plain(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "splade_qdrant", *argv], capture_output=True, cwd=REPO, check=False)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sq-startup-"))
    corpus = tmp / "docs.jsonl"
    with open(SHARED / "datasets" / "cranfield" / "corpus.jsonl", encoding="utf-8") as fh:
        corpus.write_text("".join(next(fh) for _ in range(12)), encoding="utf-8")
    store = str(tmp / "store")
    subprocess.run([sys.executable, "-m", "splade_qdrant", "ingest", str(corpus), "-c", "c", "--store", store, "--model", str(MODEL),
                    "--long-docs", "truncate", "--no-progress"], check=True, capture_output=True, cwd=REPO)
    cases = {
        "info": ["info", "-c", "c", "--store", store],
        "list": ["list", "--store", store],
        "search --help": ["search", "--help"],
        "argument error": ["search", "wing", "-c", "c", "--store", store, "--limit", "0"],
        "search (loads the model)": ["search", "wing", "-c", "c", "--store", store],
    }
    baseline = min(run_plain(["--version"]) for _ in range(3))
    rows, results = [], {}
    for name, argv in cases.items():
        repeat = max(2, args.repeat // 2) if name.startswith("search (") else args.repeat
        runs = [run_once(argv) for _ in range(repeat)]
        walls = [w for w, _, _ in runs]
        plain = [run_plain(argv) for _ in range(repeat)]
        results[name] = {
            "median_s": round(statistics.median(plain), 3), "best_s": round(min(plain), 3),
            "runs": repeat, "exit_status": runs[0][1], "imports_torch": runs[0][2],
            "median_with_importtime_s": round(statistics.median(walls), 3),
        }
        r = results[name]
        rows.append([name, f"{r['median_s']:.2f}", f"{r['best_s']:.2f}", r["exit_status"], "yes" if r["imports_torch"] else "no"])
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(f"python -m splade_qdrant --version: {baseline:.2f} s (interpreter + package import); load average {' '.join(load)}")
    print(table(["command", "median s", "best s", "exit", "torch imported"], rows))
    path = save("startup", {"version_s": round(baseline, 3), "load_average": load, "commands": results, "target": "info < 1 s"})
    print(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
