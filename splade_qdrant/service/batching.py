"""Micro-batching: concurrent queries with the same options go through the encoder together.

Requests wait in an asyncio queue. A worker takes the first one, waits at most ``max_wait_s``
(default 2 ms) for others to join it, up to ``max_batch``, groups the batch by options and runs
each group as one call on a single worker thread — the one thread that drives the query
encoder. While a batch runs, new requests queue up and form the next batch, so under load
batches fill without waiting. The wait is only spent when there is company to wait for: a
request that finds the worker idle and nothing queued, after a batch of one, goes at once, so
one client at a time pays nothing for batching being on.
``max_batch=1`` turns batching off (one query per encoder call, in arrival order).

A group that fails is retried one request at a time, so a bad request fails alone.

Example:
    >>> import asyncio
    >>> async def demo():
    ...     batcher = MicroBatcher(lambda key, texts: [t.upper() for t in texts], max_batch=8)
    ...     batcher.start()
    ...     out = await asyncio.gather(*(batcher.submit("k", t) for t in ["a", "b", "c"]))
    ...     await batcher.stop()
    ...     return out, batcher.batches
    >>> asyncio.run(demo())
    (['A', 'B', 'C'], 1)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["MicroBatcher"]

logger = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass
class _Pending(Generic[R]):
    key: Hashable
    text: str
    future: asyncio.Future[R] = field(repr=False)
    contended: bool = False  # it arrived while a batch ran or others were queued


class MicroBatcher(Generic[R]):
    """Runs ``run(key, texts) -> results`` (one result per text, in order) on batches of requests.

    Args:
        run: called on the worker thread with the options key and the texts of one group.
        max_batch: requests per batch at most (1: no batching).
        max_wait_s: how long the first request of a batch waits for others, in seconds.
        on_batch: called on the event loop after each group with (group size, seconds).
    """

    def __init__(
        self,
        run: Callable[[Hashable, list[str]], Sequence[R]],
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.002,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._run = run
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_s)
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Pending[R]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="splade-qdrant-query")
        self.batches = 0
        self._running = False  # a group is on the worker thread
        self._last_size = 1  # requests in the last batch

    @property
    def depth(self) -> int:
        """Requests waiting for a batch."""
        return 0 if self._queue is None else self._queue.qsize()

    def start(self) -> None:
        """Start the worker on the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._worker(), name="splade-qdrant-batcher")

    async def stop(self) -> None:
        """Stop the worker; requests still queued fail with CancelledError."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait().future.cancel()
        self.executor.shutdown(wait=True)

    async def submit(self, key: Hashable, text: str) -> R:
        """Queue one text with its options key; returns its result (or raises its error)."""
        if self._queue is None or self._task is None or self._task.done():
            raise RuntimeError("the batcher is not running")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        contended = self._running or not self._queue.empty()
        self._queue.put_nowait(_Pending(key, text, future, contended))
        return await future

    async def run_on_worker(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the worker thread (between batches), e.g. other uses of the query encoder."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    async def _collect(self) -> list[_Pending[R]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        alone = not batch[0].contended and self._last_size <= 1  # nobody to wait for: go now
        deadline = loop.time() + (0.0 if alone else self.max_wait_s)
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [p for p in await self._collect() if not p.future.done()]  # drop requests whose client left
            self._last_size = len(batch)
            groups: dict[Hashable, list[_Pending[R]]] = {}
            for p in batch:
                groups.setdefault(p.key, []).append(p)
            self._running = True
            try:
                for key, group in groups.items():
                    await self._run_group(loop, key, group)
            finally:
                self._running = False

    async def _run_group(self, loop: asyncio.AbstractEventLoop, key: Hashable, group: list[_Pending[R]]) -> None:
        started = loop.time()
        try:
            results = await loop.run_in_executor(self.executor, self._run, key, [p.text for p in group])
        except Exception as exc:  # noqa: BLE001 — handed to the waiting requests
            if len(group) > 1:  # find the culprit: each request alone
                for p in group:
                    await self._run_group(loop, key, [p])
                return
            _settle(group[0].future, error=exc)
            return
        self.batches += 1
        if self._on_batch is not None:
            self._on_batch(len(group), loop.time() - started)
        for p, result in zip(group, results):
            _settle(p.future, result=result)


def _settle(future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
