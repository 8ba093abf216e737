"""HTTP search throughput and latency of ``splade-qdrant serve`` on loopback.

Queries/s, p50 and p99 with 1, 4 and 16 concurrent clients, query micro-batching on and off,
at 10k and 100k documents. The collections are SYNTHETIC REPEATED TEXT: the first 1,000
Cranfield documents are encoded once with splade-tiny, then their vectors are stored again
under new ids until the collection holds N points (the engine's work per query grows with N,
the text is not new). Queries: the 225 Cranfield queries, cycled, limit 10, sparse mode, each
encoded by the server (end to end: HTTP + JSON + query encoding + search).

The server runs as a separate process (``python -m splade_qdrant serve``); the clients are
one asyncio loop in this process, with aiohttp by default (``--client httpx`` for httpx, whose
~2.5 ms of CPU per request, measured here, is taken from the server on a two-core machine;
clients normally run elsewhere). "library loop" is the same queries through
``SpladeQdrant.search`` one after another in one process, without HTTP. "server CPU" is the
server process's user + system CPU time per request (Linux ``/proc``; the library loop's own
process for its row): what a request costs the machine, whatever the wall clock did.

Target (issue 15): at 16 clients with batching, >= 2x the queries/s of the single-query loop
(the library loop; the ratio over one HTTP client without batching is printed too), with
p99 <= 2x that loop's p50.

    python benchmarks/serve_load.py [--sizes 10000 100000] [--requests 400] [--client aiohttp|httpx] [--max-wait-ms MS] [--name serve_load]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import MODEL, REPO, SHARED, query_texts, save, table

COLLECTION = "bench"
BASE_DOCS = 1000
CONCURRENCY = (1, 4, 16)


def build_base(root: Path) -> Path:
    """Encode BASE_DOCS Cranfield documents into ``root/base``."""
    from splade_qdrant.collection import SpladeQdrant

    docs = []
    with open(SHARED / "datasets" / "cranfield" / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            docs.append(json.loads(line))
            if len(docs) >= BASE_DOCS:
                break
    path = root / "base"
    with SpladeQdrant(COLLECTION, store=path, model=str(MODEL), doc_max_length=256, query_max_length=64) as sq:
        sq.ingest(docs, show_progress=False)
    return path


def build_sized(base: Path, n: int, root: Path) -> Path:
    """A store with ``n`` points: the base vectors repeated under new document ids."""
    from splade_qdrant.ingest import point_id
    from splade_qdrant.store import PointRecord, open_store

    src = open_store(base)
    spec = src.spec(COLLECTION)
    base_points = src.retrieve(COLLECTION, [point_id(str(i)) for i in range(1, BASE_DOCS + 1)], with_vectors=True)
    src.close()
    path = root / f"n{n}"
    dst = open_store(path)
    dst.create_collection(COLLECTION, spec)
    batch: list[Any] = []
    for k in range(n):
        p = base_points[k % len(base_points)]
        doc_id = f"{p.payload['doc_id']}-{k // len(base_points)}"
        batch.append(PointRecord(point_id(doc_id), p.sparse, {**p.payload, "doc_id": doc_id}))
        if len(batch) == 2000:
            dst.upsert(COLLECTION, batch)
            batch = []
    dst.upsert(COLLECTION, batch)
    dst.optimize(COLLECTION)
    assert dst.count(COLLECTION) == n
    dst.close()
    return path


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pct(lat: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(lat) * 1000, q))


def library_loop(store: Path, queries: list[str], n: int) -> dict[str, Any]:
    from splade_qdrant.collection import SpladeQdrant

    with SpladeQdrant(COLLECTION, store=store) as sq:
        for q in queries[:20]:
            sq.search(q, limit=10)
        lat = []
        t0, cpu0 = time.perf_counter(), _cpu_seconds(os.getpid())
        for i in range(n):
            s = time.perf_counter()
            sq.search(queries[i % len(queries)], limit=10)
            lat.append(time.perf_counter() - s)
        elapsed, cpu1 = time.perf_counter() - t0, _cpu_seconds(os.getpid())
    return {"qps": n / elapsed, "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99), "server_cpu_ms": _cpu_ms_per(cpu0, cpu1, n)}


async def _load(url: str, concurrency: int, n: int, queries: list[str], client: str = "aiohttp") -> dict[str, Any]:
    """``n`` searches from ``concurrency`` clients on one connection each (keep-alive)."""
    lat: list[float] = []
    todo = iter(range(n))

    async def run(post: Any) -> float:
        async def worker() -> None:
            for i in todo:
                s = time.perf_counter()
                await post({"text": queries[i % len(queries)], "limit": 10})
                lat.append(time.perf_counter() - s)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0

    if client == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as hx:
            async def post_httpx(body: dict[str, Any]) -> None:
                (await hx.post("/search", json=body)).raise_for_status()

            elapsed = await run(post_httpx)
    else:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
            async def post_aiohttp(body: dict[str, Any]) -> None:
                async with session.post("/search", json=body) as r:
                    r.raise_for_status()
                    await r.read()

            elapsed = await run(post_aiohttp)
    return {"qps": n / elapsed, "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _batch_sizes(url: str) -> tuple[float, float]:
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=30).text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("splade_qdrant_search_batch_size_")}
    return values.get("splade_qdrant_search_batch_size_sum", 0.0), values.get("splade_qdrant_search_batch_size_count", 0.0)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` so far (Linux; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_ms_per(before: float | None, after: float | None, n: int) -> float | None:
    """Milliseconds of CPU per request between two :func:`_cpu_seconds` readings (None if unread)."""
    return None if before is None or after is None else (after - before) / n * 1000


def serve_runs(store: Path, batching: bool, queries: list[str], n: int, client: str, max_wait_ms: float | None = None) -> list[dict[str, Any]]:
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "splade_qdrant", "serve", "--collection", COLLECTION, "--store", str(store), "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]
    if not batching:
        cmd.append("--no-batching")
    elif max_wait_ms is not None:
        cmd += ["--max-wait-ms", str(max_wait_ms)]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.5)
        asyncio.run(_load(url, 4, 40, queries, client))  # warm up
        rows = []
        for c in CONCURRENCY:
            before, cpu_before = _batch_sizes(url), _cpu_seconds(proc.pid)
            requests = max(n, 25 * c)
            res = asyncio.run(_load(url, c, requests, queries, client))
            after, cpu_after = _batch_sizes(url), _cpu_seconds(proc.pid)
            batches = after[1] - before[1]
            res["mean_batch"] = (after[0] - before[0]) / batches if batches else 0.0
            res["server_cpu_ms"] = _cpu_ms_per(cpu_before, cpu_after, requests)
            rows.append({"clients": c, "batching": batching, **res})
            print(f"  batching={'on' if batching else 'off'} clients={c}: {res['qps']:.0f} q/s p50 {res['p50_ms']:.1f} ms "
                  f"p99 {res['p99_ms']:.1f} ms (mean batch {res['mean_batch']:.1f}, server CPU {_ms(res['server_cpu_ms'])} ms/request)", flush=True)
        return rows
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--requests", type=int, default=400, help="requests per cell (at least 25 per client)")
    ap.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp", help="HTTP client of the load generator")
    ap.add_argument("--max-wait-ms", type=float, help="the server's --max-wait-ms with batching on (default: the server's)")
    ap.add_argument("--name", default="serve_load", help="results file: benchmarks/results/NAME.json (default %(default)s)")
    args = ap.parse_args()
    queries = query_texts("cranfield")
    root = Path(tempfile.mkdtemp(prefix="serve-load-"))
    results: list[dict[str, Any]] = []
    try:
        base = build_base(root)
        for n in args.sizes:
            store = build_sized(base, n, root)
            lib = library_loop(store, queries, args.requests)
            print(f"{n} docs: library loop {lib['qps']:.0f} q/s p50 {lib['p50_ms']:.1f} ms p99 {lib['p99_ms']:.1f} ms", flush=True)
            results.append({"docs": n, "mode": "library loop", "clients": 1, "batching": False, **lib, "mean_batch": 1.0})
            for batching in (False, True):
                results += [{"docs": n, "mode": "http", **r} for r in serve_runs(store, batching, queries, args.requests, args.client, args.max_wait_ms)]
            shutil.rmtree(store, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows, verdicts = [], []
    for r in results:
        label = "library loop" if r["mode"] != "http" else f"http, batching {'on' if r['batching'] else 'off'}"
        rows.append([f"{r['docs']:,}", label, r["clients"], f"{r['qps']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['mean_batch']:.1f}",
                     _ms(r.get("server_cpu_ms"))])
    for n in args.sizes:
        lib = next(r for r in results if r["docs"] == n and r["mode"] != "http")
        single = next(r for r in results if r["docs"] == n and r["mode"] == "http" and not r["batching"] and r["clients"] == 1)
        best = next(r for r in results if r["docs"] == n and r["mode"] == "http" and r["batching"] and r["clients"] == 16)
        verdicts.append({
            "docs": n,
            "over_library_loop": best["qps"] / lib["qps"],
            "over_http_single": best["qps"] / single["qps"],
            "p99_over_library_p50": best["p99_ms"] / lib["p50_ms"],
            "throughput_met": best["qps"] >= 2 * lib["qps"],
            "p99_met": best["p99_ms"] <= 2 * lib["p50_ms"],
        })
    print()
    print(table(["docs", "path", "clients", "q/s", "p50 ms", "p99 ms", "mean batch", "server CPU ms/req"], rows))
    print()
    for v in verdicts:
        print(f"{v['docs']:,} docs: 16 clients with batching = {v['over_library_loop']:.2f}x the library loop's q/s "
              f"({v['over_http_single']:.2f}x one HTTP client without batching; target >= 2x: {v['throughput_met']}); "
              f"p99 = {v['p99_over_library_p50']:.2f}x the loop's p50 (target <= 2x: {v['p99_met']})")
    path = save(args.name, {"collection": f"synthetic repeated text: {BASE_DOCS} Cranfield documents' vectors repeated to N points",
                            "model": "splade-tiny", "client": args.client, "max_wait_ms": args.max_wait_ms, "requests_per_cell": args.requests, "results": results, "verdicts": verdicts})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
