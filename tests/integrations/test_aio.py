"""AsyncSpladeQdrant with both workers (the tiny random BERT saved to a directory, embedded Qdrant Edge).

Each behaviour runs with ``worker="thread"`` and ``worker="process"``; the process variants
start a worker process (~2–4 s each) and are slow, except one smoke test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from splade_qdrant import AsyncSpladeQdrant, SpladeQdrant
from splade_qdrant.errors import (
    CollectionNotFoundError,
    ConfigError,
    InputError,
    StoreUnavailableError,
    WorkerDiedError,
)
from splade_qdrant.store import open_store

from .conftest import DOCS, write_jsonl

WORKERS = ["thread", pytest.param("process", marks=pytest.mark.slow)]

WORDS = ["wing", "flow", "lift", "drag", "air", "speed", "heat", "transfer", "boundary", "layer", "shock", "wave", "pressure", "mach", "plate", "surface"]


def corpus(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    return [{"id": f"d{i}", "text": " ".join(rng.choice(WORDS, size=8))} for i in range(n)]


def queries(n: int) -> list[str]:
    rng = np.random.default_rng(11)
    return [" ".join(rng.choice(WORDS, size=3)) for _ in range(n)]


@pytest.mark.parametrize("worker", WORKERS)
def test_concurrent_searches_equal_sequential(tmp_path: Path, random_model_dir: Path, worker: str) -> None:
    qs = queries(64)

    async def run() -> tuple[list[Any], list[Any], Any]:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32, worker=worker) as sq:
            assert sq.worker == worker
            report = await sq.ingest(corpus(300))
            sequential = [await sq.search(q, limit=10) for q in qs]
            concurrent = await asyncio.gather(*(sq.search(q, limit=10) for q in qs))
            return sequential, list(concurrent), report

    sequential, concurrent, report = asyncio.run(run())
    assert report.points_in_collection == 300
    for seq, con in zip(sequential, concurrent):
        assert [h.id for h in con] == [h.id for h in seq]
        assert [h.score for h in con] == pytest.approx([h.score for h in seq], rel=1e-5)
    with SpladeQdrant("c", store=tmp_path / "s") as sync:  # and the synchronous API agrees
        assert [h.id for h in sync.search(qs[0], limit=10)] == [h.id for h in sequential[0]]


@pytest.mark.parametrize("worker", WORKERS)
def test_mixed_options_and_search_batch(tmp_path: Path, random_model_dir: Path, worker: str) -> None:
    async def run() -> None:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32, worker=worker) as sq:
            await sq.ingest([{"id": i, "text": t, "n": k} for k, (i, t) in enumerate(DOCS)])
            a, b, c = await asyncio.gather(
                sq.search("wing lift", limit=2), sq.search("wing lift", limit=4), sq.search("wing lift", filter={"n": [0, 1]})
            )
            assert len(a) == 2 and len(b) == 4 and {h.id for h in c} <= {"d1", "d2"}
            assert [h.id for h in b[:2]] == [h.id for h in a]
            batch = await sq.search_batch(["wing lift", "heat transfer"], limit=4)
            assert [h.id for h in batch[0]] == [h.id for h in b]
            assert (await sq.info())["points"] == len(DOCS)

    asyncio.run(run())


@pytest.mark.parametrize("worker", WORKERS)
def test_cancelled_ingest_resumes_like_a_killed_one(tmp_path: Path, random_model_dir: Path, worker: str) -> None:
    docs = corpus(200)
    reached, release = threading.Event(), threading.Event()

    def slow_docs() -> Iterator[dict[str, Any]]:
        for i, doc in enumerate(docs):
            if i == 100:  # five chunks of 20 are encoded and handed to the writer by now
                reached.set()
                release.wait(30)
            yield doc

    async def run() -> tuple[int, Any]:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32, worker=worker) as sq:
            task = asyncio.ensure_future(sq.ingest(slow_docs(), chunk_size=20, upsert_batch=7))
            await asyncio.get_running_loop().run_in_executor(None, reached.wait, 30)
            task.cancel()
            for _ in range(5):
                await asyncio.sleep(0)  # let the task see the cancellation and ask the worker to stop
            release.set()
            with pytest.raises(asyncio.CancelledError):
                await task
            stored = (await sq.info())["points"]
            return stored, await sq.ingest(docs)

    stored, again = asyncio.run(run())
    assert stored == 100
    assert again.skipped_unchanged == 100 and again.points_written == 100 and again.points_in_collection == 200


@pytest.mark.parametrize("worker", WORKERS)
def test_bad_input_gets_the_library_errors(tmp_path: Path, random_model_dir: Path, worker: str) -> None:
    async def run() -> str:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32, worker=worker) as sq:
            await sq.ingest([{"id": i, "text": t} for i, t in DOCS])
            with pytest.raises(TypeError, match="query must be a string, got int"):
                await sq.search(5)  # type: ignore[arg-type]
            with pytest.raises(ConfigError) as err:
                await sq.search("wing", limit=0)
            with pytest.raises(TypeError, match="list of query strings"):
                await sq.search_batch("wing")  # type: ignore[arg-type]
            assert len(await sq.search("wing")) == len(DOCS)  # the worker still serves after errors
            return str(err.value)

    message = asyncio.run(run())
    with SpladeQdrant("c", store=tmp_path / "s") as sync, pytest.raises(ConfigError) as err_sync:
        sync.search("wing", limit=0)
    assert message == str(err_sync.value)


def bad_corpus(n: int, bad_at: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = corpus(n)
    docs[bad_at] = {"id": docs[bad_at]["id"], "title": "no text"}
    return docs


def errors_and_reports(tmp_path: Path, model: Path, worker: str) -> dict[str, Any]:
    """What each kind of failure gives through one worker: (class, message, attributes) and reports."""
    out: dict[str, Any] = {}

    def failing_docs() -> Iterator[dict[str, Any]]:
        yield from corpus(30)
        raise RuntimeError("the caller's source broke")

    async def run() -> None:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(model), doc_max_length=32, worker=worker) as sq:
            with pytest.raises(CollectionNotFoundError) as missing:
                await sq.info()
            with pytest.raises(InputError) as first_bad:
                await sq.ingest([{"id": "x"}])
            with pytest.raises(InputError) as later_bad:  # after two chunks were stored
                await sq.ingest(bad_corpus(60, 45), chunk_size=20)
            with pytest.raises(RuntimeError) as broken:
                await sq.ingest(failing_docs(), chunk_size=20)
            skipped = await sq.ingest(bad_corpus(60, 7), skip_bad=True, chunk_size=20)
            from_file = await sq.ingest(write_jsonl(tmp_path / "bad.jsonl", bad_corpus(40, 3)), skip_bad=True, chunk_size=20)
            with pytest.raises(ConfigError) as limit:
                await sq.search("wing", limit=0)
            for name, info in [("missing", missing), ("first_bad", first_bad), ("later_bad", later_bad), ("broken", broken), ("limit", limit)]:
                out[name] = (type(info.value), str(info.value), getattr(info.value, "line", None), getattr(info.value, "doc_id", None))
            for name, report in [("skipped", skipped), ("from_file", from_file)]:
                out[name] = (report.documents, report.bad, report.points_in_collection)
            out["points"] = (await sq.info())["points"]

    asyncio.run(run())
    return out


@pytest.mark.slow
def test_errors_and_bad_input_records_are_the_same_in_both_workers(tmp_path: Path, random_model_dir: Path) -> None:
    thread = errors_and_reports(tmp_path, random_model_dir, "thread")
    shutil.rmtree(tmp_path / "s")  # the same path: messages name it
    process = errors_and_reports(tmp_path, random_model_dir, "process")
    assert process == thread
    assert thread["missing"][0] is CollectionNotFoundError and thread["limit"][0] is ConfigError
    assert thread["first_bad"][:4] == (InputError, "<iterable>:1 (document 'x'): 'text' is missing", 1, "x")
    assert "40 documents were stored before this line" in thread["later_bad"][1]
    assert thread["broken"][:2] == (RuntimeError, "the caller's source broke")
    assert thread["skipped"][0] == 59 and [b.line for b in thread["skipped"][1]] == [8]
    assert [b.line for b in thread["from_file"][1]] == [4]


@pytest.mark.slow  # ~6 s: the worker process imports torch; the other process-worker tests are slow too
def test_process_worker_smoke(tmp_path: Path, random_model_dir: Path) -> None:
    """Process worker: start, ingest, search, an error, close; the process exits."""

    async def run() -> tuple[int, Any, str]:
        sq = AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32)
        assert sq.worker == "process" and sq.worker_pid is None  # auto; started on the first call
        with pytest.raises(AttributeError, match="only with worker='thread'"):
            sq.sync  # noqa: B018
        async with sq:
            report = await sq.ingest([{"id": i, "text": t} for i, t in DOCS])
            assert report.points_in_collection == len(DOCS)
            hits = await sq.search("wing lift", limit=3)
            with pytest.raises(ConfigError, match="limit must be an integer"):
                await sq.search("wing", limit=0)
            pid = sq.worker_pid
            assert pid is not None and pid != os.getpid()
        with pytest.raises(StoreUnavailableError, match="is closed"):
            await sq.search("wing")
        await sq.close()  # again: nothing
        return pid, hits, hits[0].id

    pid, hits, best = asyncio.run(run())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # exited and reaped
    with SpladeQdrant("c", store=tmp_path / "s") as sync:  # the directory is free again
        assert [h.id for h in sync.search("wing lift", limit=3)] == [h.id for h in hits] and best == hits[0].id


def test_worker_choice(tmp_path: Path, random_model_dir: Path) -> None:
    store = open_store(":memory:")
    try:
        assert AsyncSpladeQdrant("c", store=store).worker == "thread"  # an in-process object: auto picks the thread
        with pytest.raises(ConfigError, match="worker='process' cannot be used: store is a .* object"):
            AsyncSpladeQdrant("c", store=store, worker="process")
    finally:
        store.close()
    assert AsyncSpladeQdrant("c", store=tmp_path / "s", worker="process").worker == "process"  # nothing started
    with pytest.raises(ConfigError, match="worker must be"):
        AsyncSpladeQdrant("c", store=tmp_path / "s", worker="fork")  # type: ignore[arg-type]


@pytest.mark.slow
def test_killed_worker_gives_a_clear_error_and_a_rerun_resumes(tmp_path: Path, random_model_dir: Path) -> None:
    docs = corpus(200)
    reached, release = threading.Event(), threading.Event()

    def slow_docs() -> Iterator[dict[str, Any]]:
        for i, doc in enumerate(docs):
            if i == 100:
                reached.set()
                release.wait(30)
            yield doc

    async def run() -> tuple[str, str, int, Any, list[Any]]:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32, worker="process") as sq:
            await sq.ingest(docs[:10])
            first = sq.worker_pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            with pytest.raises(WorkerDiedError) as idle:
                await sq.search("wing")
            task = asyncio.ensure_future(sq.ingest(slow_docs(), chunk_size=20))
            await asyncio.get_running_loop().run_in_executor(None, reached.wait, 30)
            second = sq.worker_pid
            assert second is not None and second != first
            os.kill(second, signal.SIGKILL)
            release.set()
            with pytest.raises(WorkerDiedError) as busy:
                await task
            again = await sq.ingest(docs)  # a new worker; what was acknowledged survived
            return str(idle.value), str(busy.value), (await sq.info())["points"], again, await sq.search("wing", limit=3)

    idle, busy, points, again, hits = asyncio.run(run())
    assert "exited (killed by SIGKILL) during search" in idle and "the next call starts a new worker" in idle
    assert "exited (killed by SIGKILL) during ingest" in busy
    assert points == 200 and again.points_in_collection == 200 and again.skipped_unchanged >= 10 and len(hits) == 3


@pytest.mark.slow
def test_cancelled_ingest_from_a_file_in_the_worker_process_resumes(tmp_path: Path, random_model_dir: Path) -> None:
    path = write_jsonl(tmp_path / "corpus.jsonl", corpus(2000))

    async def run() -> tuple[int, Any]:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32, worker="process") as sq:
            await sq.ingest(corpus(1))  # the worker and its encoders are up
            task = asyncio.ensure_future(sq.ingest(path, chunk_size=20))
            for _ in range(5):
                await asyncio.sleep(0)  # the request is on its way; the worker reads the file itself
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            stored = (await sq.info())["points"]
            return stored, await sq.ingest(path, chunk_size=20)

    stored, again = asyncio.run(run())
    assert 1 <= stored < 2000  # it stopped early (d0 came from the first ingest)
    assert again.skipped_unchanged == stored and again.points_in_collection == 2000


def _exited(pid: int) -> bool:
    """True once ``pid`` is gone or a zombie (exited, not yet reaped by its new parent)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_worker_process_exits_when_its_parent_dies_and_the_parent_needs_no_torch(tmp_path: Path, random_model_dir: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "import asyncio, os, sys\n"
        "from splade_qdrant import AsyncSpladeQdrant\n"
        "async def main():\n"
        f"    sq = AsyncSpladeQdrant('c', store={str(tmp_path / 's')!r}, model={str(random_model_dir)!r}, doc_max_length=32)\n"
        "    await sq.ingest([{'id': 'a', 'text': 'wing lift'}])\n"
        "    print(sq.worker_pid, 'torch' in sys.modules, flush=True)\n"
        "    os._exit(0)  # dies without close()\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True)
    pid_text, torch_here = out.stdout.split()
    pid = int(pid_text)
    assert torch_here == "False"  # the application's process never imports torch: the worker encodes
    deadline = time.monotonic() + 60
    while not _exited(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _exited(pid)
    with SpladeQdrant("c", store=tmp_path / "s") as sync:  # it closed the store on its way out
        assert sync.info()["points"] == 1


def test_the_worker_process_leaves_one_cpu_to_the_application(monkeypatch: pytest.MonkeyPatch) -> None:
    from splade_qdrant._aio_worker import _child_env
    from splade_qdrant._cpus import CPUS_ENV, usable_cpus

    monkeypatch.delenv(CPUS_ENV, raising=False)
    assert _child_env()[CPUS_ENV] == str(max(1, usable_cpus() - 1))
    monkeypatch.setenv(CPUS_ENV, "1")  # the user's own cap is kept
    assert _child_env()[CPUS_ENV] == "1"
