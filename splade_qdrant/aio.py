"""The asyncio API: :class:`AsyncSpladeQdrant`, the one-object API for coroutines.

Design:

* Everything that touches torch or the store runs in **one worker** owned by the object —
  encoders (SPLADE and dense) and store calls alike — so the event loop never waits on torch.
  One worker because a torch forward pass already uses every core; a second would only
  contend for them (and the encoders keep per-call state). Calls reach it one at a time from
  one executor thread (:mod:`._aio_worker`).
* **The worker is a child process by default** (``worker="process"``, what ``"auto"`` picks
  when every argument can cross a process boundary): the :class:`~splade_qdrant.SpladeQdrant`
  — encoders *and* the store, since Qdrant Edge is owned by one process — lives in
  ``python -m splade_qdrant._aio_child``; this process only sends requests and receives
  results, in the executor thread. Why not a thread: a worker thread holds the GIL whenever it
  runs Python code (tokenizer wrapper, sparse conversion, building Qdrant requests and hits),
  and CPython hands the GIL back to the loop's thread only every switch interval (5 ms), so a
  thread worker stalls the loop by ≥ 5 ms at times while it works (measured: 7.4 ms longest,
  p99 5.5 ms; ``benchmarks/async_stall.py``). ``worker="thread"`` (and ``"auto"`` given a
  :class:`~splade_qdrant.store.Store` or a dense encoder *object*) runs it in a thread of this
  process instead, and :attr:`AsyncSpladeQdrant.sync` then gives the synchronous object.
* **Servers use the same synchronous store in the worker**, not ``AsyncQdrantClient``:
  the network wait of a query happens off the loop either way, and one
  :class:`~splade_qdrant.store.Store` implementation per backend keeps ingest and search on
  a single code path (an async twin of every store call would be a second one to keep
  congruent).
* **Concurrent searches are batched**: ``search`` calls with the same options that arrive
  while the worker is busy are encoded and queried together in one
  :meth:`~splade_qdrant.search.Searcher.search_batch` call (same hits as one at a time).
* **Cancellation leaves the store consistent**: a cancelled ``ingest`` stops reading
  documents, lets the batches already handed to the writer finish, and only then raises
  ``CancelledError`` — exactly the state an interrupted ingest leaves, so running the same
  ingest again resumes it (stored documents are skipped by content hash). A cancelled
  ``search`` just drops its result. Errors raised in the worker reach the caller as the same
  class with the same message; a worker process that dies raises
  :class:`~splade_qdrant.errors.WorkerDiedError` for the call in flight, and the next call
  starts a new one.

Example:
    >>> import asyncio
    >>> async def main():
    ...     async with AsyncSpladeQdrant("cran", store="./data", model="../shared/models/splade-tiny") as sq:
    ...         await sq.ingest("../shared/datasets/cranfield/corpus.jsonl")
    ...         hits = await asyncio.gather(*(sq.search(q) for q in ["wing lift", "heat transfer"]))
    ...         return [h[0].id for h in hits]
    >>> asyncio.run(main())  # doctest: +SKIP
    ['1', '5']
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._aio_worker import ProcessWorker, Stopped, ThreadWorker, WorkerKind, choose_worker
from .collection import SpladeQdrant
from .config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DOC_MAX_LENGTH,
    DEFAULT_LIMIT,
    DEFAULT_LONG_DOCS,
    LongDocs,
)
from .dense import DenseEncoderLike
from .documents import DocumentLike
from .errors import ConfigError, StoreUnavailableError
from .fusion import DEFAULT_RRF_K
from .hits import SearchHit
from .ingest import DEFAULT_CHUNK_SIZE, DEFAULT_UPSERT_BATCH, IngestReport
from .store import Store
from .store.base import Filter

if TYPE_CHECKING:  # torch loads in the worker, not here (with the process worker, never in this process)
    from .search import FusionMethod, Mode

__all__ = ["AsyncSpladeQdrant"]

#: Most queries one batched search call encodes together.
MAX_BATCH = 64


@dataclass
class _Waiting:
    query: str
    dense_vector: Any
    future: asyncio.Future[list[SearchHit]]


class AsyncSpladeQdrant:
    """Ingest into and search one collection from coroutines.

    Takes the arguments of :class:`~splade_qdrant.SpladeQdrant` (see there), and ``worker``:
    ``"process"`` (a child process owns the encoders and the store), ``"thread"`` (a thread of
    this process does), or ``"auto"`` (default): process unless ``store`` is a
    :class:`~splade_qdrant.store.Store` object or ``dense_model`` an encoder object, which
    cannot cross a process boundary (``worker="process"`` with one is a ConfigError). The
    encoders load lazily in the worker; the worker process starts on the first call, so an
    error opening the store surfaces there.
    """

    def __init__(
        self,
        collection: str,
        *,
        store: str | os.PathLike[str] | Store | None = None,
        url: str | None = None,
        api_key: str | None = None,
        prefer_grpc: bool = False,
        model: str | None = None,
        doc_model: str | None = None,
        query_model: str | None = None,
        doc_max_length: int = DEFAULT_DOC_MAX_LENGTH,
        query_max_length: int | None = None,
        long_docs: LongDocs = DEFAULT_LONG_DOCS,
        window_overlap: int | None = None,
        doc_top_k: int | None = None,
        doc_threshold: float | None = None,
        query_top_k: int | None = None,
        query_threshold: float | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | None = None,
        half: bool = False,
        dense_model: str | os.PathLike[str] | DenseEncoderLike | None = None,
        allow_model_mismatch: bool = False,
        worker: WorkerKind = "auto",
    ) -> None:
        self.worker = choose_worker(worker, store=store, dense_model=dense_model)
        arguments: dict[str, Any] = {
            "store": store, "url": url, "api_key": api_key, "prefer_grpc": prefer_grpc, "model": model,
            "doc_model": doc_model, "query_model": query_model, "doc_max_length": doc_max_length,
            "query_max_length": query_max_length, "long_docs": long_docs, "window_overlap": window_overlap,
            "doc_top_k": doc_top_k, "doc_threshold": doc_threshold, "query_top_k": query_top_k,
            "query_threshold": query_threshold, "batch_size": batch_size, "device": device, "half": half,
            "dense_model": dense_model, "allow_model_mismatch": allow_model_mismatch,
        }
        self._worker: ThreadWorker | ProcessWorker
        if self.worker == "thread":
            self._worker = ThreadWorker(SpladeQdrant(collection, **arguments))
        else:
            if not isinstance(collection, str) or not collection.strip():
                raise ConfigError(f"collection must be a non-empty string, got {collection!r}")
            if url is not None and store is not None:
                raise ConfigError("give --store DIR or --url URL, not both")
            for name in ("store", "dense_model"):
                if isinstance(arguments[name], os.PathLike):
                    arguments[name] = os.fspath(arguments[name])
            self._worker = ProcessWorker(collection, arguments)
        self.collection = collection
        self._closed = False
        self._pool = _worker_pool()
        self._slot: asyncio.Semaphore | None = None
        self._waiting: dict[str, list[_Waiting]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def sync(self) -> SpladeQdrant:
        """The synchronous :class:`SpladeQdrant` the worker thread drives (``worker="thread"`` only)."""
        if isinstance(self._worker, ThreadWorker):
            return self._worker.sq
        raise AttributeError(
            "AsyncSpladeQdrant.sync exists only with worker='thread': with worker='process' the SpladeQdrant lives in "
            "the worker process; use the async methods, or open a SpladeQdrant on the store after close()"
        )

    @property
    def worker_pid(self) -> int | None:
        """Process id of the worker process (``worker="process"``, once started), else None."""
        return self._worker.pid if isinstance(self._worker, ProcessWorker) else None

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailableError(
                f"AsyncSpladeQdrant({self.collection!r}) is closed (close() is final); create a new one to use the store again"
            )

    def _worker_slot(self) -> asyncio.Semaphore:
        if self._slot is None:
            self._slot = asyncio.Semaphore(1)
        return self._slot

    async def ingest(
        self,
        documents: Iterable[DocumentLike] | str | os.PathLike[str],
        *,
        store_text: bool = False,
        insert_only: bool = False,
        skip_unchanged: bool = True,
        skip_bad: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        upsert_batch: int = DEFAULT_UPSERT_BATCH,
        optimize: bool = True,
    ) -> IngestReport:
        """Encode and upsert documents (see :func:`splade_qdrant.ingest.ingest`), in the worker.

        A path is read by the worker; a synchronous iterable is read in a thread of this
        process (and, with the process worker, sent to it in bounded chunks). On cancellation,
        reading stops, the documents already read are written, and then ``CancelledError``
        propagates; rerun the same ingest to resume.
        """
        self._check_open()
        stop = threading.Event()
        options = {
            "store_text": store_text, "insert_only": insert_only, "skip_unchanged": skip_unchanged, "skip_bad": skip_bad,
            "chunk_size": chunk_size, "upsert_batch": upsert_batch, "optimize": optimize,
        }
        async with self._worker_slot():
            future = asyncio.ensure_future(self._run(self._worker.ingest, documents, options, stop))
            try:
                report: IngestReport = await asyncio.shield(future)
                return report
            except asyncio.CancelledError:
                stop.set()
                with contextlib.suppress(Stopped):
                    await future  # the writer flushes what was handed to it; the store is consistent
                raise

    async def search(
        self,
        query: str,
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        score_threshold: float | None = None,
        filter: Filter | None = None,
        mode: Mode = "sparse",
        fusion: FusionMethod = "rrf",
        rrf_k: int = DEFAULT_RRF_K,
        weights: Sequence[float] | None = None,
        prefetch_limit: int | None = None,
        explain: bool = False,
        breakdown: bool = False,
        dense_vector: Any = None,
    ) -> list[SearchHit]:
        """Search one query (options as in :meth:`Searcher.search_batch`); concurrent calls
        with the same options are encoded and searched together."""
        self._check_open()
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        options = {
            "limit": limit, "offset": offset, "score_threshold": score_threshold, "filter": filter, "mode": mode,
            "fusion": fusion, "rrf_k": rrf_k, "weights": None if weights is None else tuple(weights),
            "prefetch_limit": prefetch_limit, "explain": explain, "breakdown": breakdown,
        }
        key = repr((sorted(options.items(), key=lambda kv: kv[0]), dense_vector is not None))
        future: asyncio.Future[list[SearchHit]] = asyncio.get_running_loop().create_future()
        queue = self._waiting.setdefault(key, [])
        queue.append(_Waiting(query, dense_vector, future))
        if len(queue) == 1:
            task = asyncio.ensure_future(self._flush(key, options))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _flush(self, key: str, options: dict[str, Any]) -> None:
        """Search every waiting query with this key, up to :data:`MAX_BATCH` per call, once the worker is free."""
        while self._waiting.get(key):
            async with self._worker_slot():
                waiting = self._waiting.get(key, [])
                batch, rest = waiting[:MAX_BATCH], waiting[MAX_BATCH:]
                if rest:
                    self._waiting[key] = rest
                else:
                    self._waiting.pop(key, None)
                batch = [w for w in batch if not w.future.done()]  # cancelled meanwhile
                if not batch:
                    continue
                vectors = [w.dense_vector for w in batch] if batch[0].dense_vector is not None else None
                try:
                    results = await self._run(self._worker.search_batch, [w.query for w in batch], options, vectors)
                except Exception as exc:  # noqa: BLE001 — handed to every caller of the batch
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(exc)
                    continue
                for w, hits in zip(batch, results):
                    if not w.future.done():
                        w.future.set_result(hits)

    async def search_batch(
        self,
        queries: Sequence[str],
        *,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        score_threshold: float | None = None,
        filter: Filter | None = None,
        mode: Mode = "sparse",
        fusion: FusionMethod = "rrf",
        rrf_k: int = DEFAULT_RRF_K,
        weights: Sequence[float] | None = None,
        prefetch_limit: int | None = None,
        explain: bool = False,
        breakdown: bool = False,
        dense_vectors: Sequence[Any] | None = None,
    ) -> list[list[SearchHit]]:
        """Search several queries in one call (see :meth:`Searcher.search_batch`)."""
        self._check_open()
        if isinstance(queries, str):
            raise TypeError("search_batch expects a list of query strings; use search() for one")
        options = {
            "limit": limit, "offset": offset, "score_threshold": score_threshold, "filter": filter, "mode": mode,
            "fusion": fusion, "rrf_k": rrf_k, "weights": weights, "prefetch_limit": prefetch_limit,
            "explain": explain, "breakdown": breakdown,
        }
        async with self._worker_slot():
            result: list[list[SearchHit]] = await self._run(
                self._worker.search_batch, list(queries), options, None if dense_vectors is None else list(dense_vectors)
            )
        return result

    async def info(self) -> dict[str, Any]:
        """Point count, vector configuration and encoder fingerprint."""
        self._check_open()
        async with self._worker_slot():
            result: dict[str, Any] = await self._run(self._worker.info)
        return result

    async def close(self) -> None:
        """Wait for the searches in flight, close the store and stop the worker (the process
        exits; one stuck for a minute is killed). Final; calling it again does nothing."""
        if self._closed:
            return
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._closed = True
        try:
            async with self._worker_slot():
                await self._run(self._worker.close)
        finally:
            self._pool.shutdown(wait=False)

    async def __aenter__(self) -> AsyncSpladeQdrant:  # noqa: PYI034 — Python 3.10 has no typing.Self
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _worker_pool() -> Any:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="splade-qdrant-async")
