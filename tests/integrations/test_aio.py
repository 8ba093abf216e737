"""AsyncSpladeQdrant (fast: the tiny random BERT saved to a directory, embedded Qdrant Edge)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from splade_qdrant import AsyncSpladeQdrant, SpladeQdrant
from splade_qdrant.errors import ConfigError

from .conftest import DOCS

WORDS = ["wing", "flow", "lift", "drag", "air", "speed", "heat", "transfer", "boundary", "layer", "shock", "wave", "pressure", "mach", "plate", "surface"]


def corpus(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    return [{"id": f"d{i}", "text": " ".join(rng.choice(WORDS, size=8))} for i in range(n)]


def queries(n: int) -> list[str]:
    rng = np.random.default_rng(11)
    return [" ".join(rng.choice(WORDS, size=3)) for _ in range(n)]


def test_concurrent_searches_equal_sequential(tmp_path: Path, random_model_dir: Path) -> None:
    qs = queries(64)

    async def run() -> tuple[list[Any], list[Any], Any]:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32) as sq:
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


def test_mixed_options_and_search_batch(tmp_path: Path, random_model_dir: Path) -> None:
    async def run() -> None:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32) as sq:
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


def test_cancelled_ingest_resumes_like_a_killed_one(tmp_path: Path, random_model_dir: Path) -> None:
    docs = corpus(200)
    reached, release = threading.Event(), threading.Event()

    def slow_docs() -> Iterator[dict[str, Any]]:
        for i, doc in enumerate(docs):
            if i == 100:  # five chunks of 20 are encoded and handed to the writer by now
                reached.set()
                release.wait(30)
            yield doc

    async def run() -> tuple[int, Any]:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32) as sq:
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


def test_bad_input_gets_the_library_errors(tmp_path: Path, random_model_dir: Path) -> None:
    async def run() -> None:
        async with AsyncSpladeQdrant("c", store=tmp_path / "s", model=str(random_model_dir), doc_max_length=32) as sq:
            await sq.ingest([{"id": i, "text": t} for i, t in DOCS])
            with pytest.raises(TypeError, match="query must be a string, got int"):
                await sq.search(5)  # type: ignore[arg-type]
            with pytest.raises(ConfigError) as err:
                await sq.search("wing", limit=0)
            with pytest.raises(ConfigError) as err_sync:
                sq.sync.search("wing", limit=0)
            assert str(err.value) == str(err_sync.value)
            with pytest.raises(TypeError, match="list of query strings"):
                await sq.search_batch("wing")  # type: ignore[arg-type]
            assert len(await sq.search("wing")) == len(DOCS)  # the worker still serves after errors

    asyncio.run(run())
