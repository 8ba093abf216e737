"""Event-loop stalls and throughput of AsyncSpladeQdrant while 64 queries encode concurrently.

A ticker coroutine sleeps 1 ms in a loop and records how late it wakes up: the longest
lateness is the longest time the event loop could not run anything (target: ≤ 5 ms). Rows:

* idle loop — the ticker alone (the machine's own scheduling noise);
* for each worker (``worker="process"``: encoders and store in a child process, the default;
  ``worker="thread"``: in a thread of this process), 64 concurrent ``search`` calls (batched
  in the worker) and 64 ``search`` calls awaited one after another;
* the naive way — the synchronous ``SpladeQdrant.search`` called inside coroutines (the loop
  waits on torch for every query; through the thread-mode object's ``sync``).

splade-tiny, Cranfield (first ``--docs`` documents, truncated at 256 tokens; the first 64
queries), embedded Qdrant Edge store. Each round opens the process-mode object, measures,
closes it (one process owns an Edge directory), then does the same with the thread-mode one.
Best of ``--rounds`` for queries/s; the worst stall of all rounds.

    python benchmarks/async_stall.py [--docs 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import MODEL, doc_texts, query_texts, save, table

from splade_qdrant import AsyncSpladeQdrant

TICK = 0.001
N_QUERIES = 64


async def with_ticker(work: Callable[[], Awaitable[Any]]) -> tuple[float, float, list[float]]:
    """(seconds the work took, longest loop stall in seconds, all stalls)."""
    stalls: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            t = time.perf_counter()
            await asyncio.sleep(TICK)
            stalls.append(max(0.0, time.perf_counter() - t - TICK))

    task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    await work()
    took = time.perf_counter() - t0
    done = True
    await task
    return took, max(stalls), stalls


async def bench(store: Path, docs: int, rounds: int) -> list[dict[str, Any]]:
    queries = query_texts("cranfield")[:N_QUERIES]
    texts = doc_texts("cranfield", docs)
    results: dict[str, dict[str, list[float]]] = {}

    def record(name: str, took: float, stall: float, stalls: list[float]) -> None:
        r = results.setdefault(name, {"qps": [], "stall": [], "p99": []})
        if took:
            r["qps"].append(N_QUERIES / took)
        r["stall"].append(stall)
        r["p99"].append(statistics.quantiles(stalls, n=100, method="inclusive")[98] if len(stalls) >= 2 else stall)

    def open_sq(worker: str) -> AsyncSpladeQdrant:
        return AsyncSpladeQdrant("cran", store=store, model=str(MODEL), doc_max_length=256, long_docs="truncate",
                                 worker=worker)  # type: ignore[arg-type]

    async with open_sq("process") as sq:
        await sq.ingest([{"id": str(i), "text": t} for i, t in enumerate(texts)], optimize=True)
    for _ in range(rounds):
        async def idle() -> None:
            await asyncio.sleep(0.5)

        _, stall, stalls = await with_ticker(idle)
        record("idle loop (ticker alone)", 0.0, stall, stalls)
        for worker in ("process", "thread"):
            async with open_sq(worker) as sq:
                await sq.search(queries[0])  # start the worker, load the query encoder

                async def concurrent() -> None:
                    await asyncio.gather(*(sq.search(q, limit=10) for q in queries))

                record(f"{worker} worker: 64 concurrent search()", *await with_ticker(concurrent))

                async def sequential() -> None:
                    for q in queries:
                        await sq.search(q, limit=10)

                record(f"{worker} worker: 64 search() one after another", *await with_ticker(sequential))

                if worker == "thread":
                    async def naive() -> None:
                        async def one(q: str) -> Any:
                            return sq.sync.search(q, limit=10)  # blocks the loop: what we avoid

                        await asyncio.gather(*(one(q) for q in queries))

                    record("sync SpladeQdrant.search inside coroutines", *await with_ticker(naive))
    rows = []
    for name, r in results.items():
        rows.append({
            "way": name,
            "queries_per_s": round(max(r["qps"]), 1) if r["qps"] else None,
            "longest_stall_ms": round(1000 * max(r["stall"]), 2),
            "p99_stall_ms": round(1000 * max(r["p99"]), 2),
        })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=400, help="Cranfield documents to ingest")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(bench(Path(tmp) / "store", args.docs, args.rounds))
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(table(["way", "queries/s", "longest stall ms", "p99 stall ms"],
                [[r["way"], "-" if r["queries_per_s"] is None else r["queries_per_s"], r["longest_stall_ms"], r["p99_stall_ms"]] for r in rows]))
    print(f"Python switch interval: {sys.getswitchinterval() * 1000:.1f} ms (a worker thread holding the GIL can delay the loop this long)")
    print(f"1-minute load average before / after: {load[0]} / {load[1]}")
    path = save("async_stall", {"docs": args.docs, "queries": N_QUERIES, "rounds": args.rounds,
                                "switch_interval_ms": sys.getswitchinterval() * 1000, "load_average_1min": load, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
