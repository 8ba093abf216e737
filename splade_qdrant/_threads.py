"""CPU threads: how many the process may really use, and thread-local torch thread counts.

Why this module exists: on a shared machine, barrier-synchronised thread pools collapse. A
torch operation split over an OpenMP team of two ends only when both halves have run; with
another CPU-bound process beside it, one half waits a scheduler slice for the other, for
every one of the thousands of small operations of an encoding — and idle OpenMP and
OpenBLAS workers busy-wait against each other and against the neighbour. The encoder
therefore never splits one operation over threads on the CPU: each sequence batch runs on
one thread (one OpenMP thread, one MKL thread), and batches run side by side on
:func:`usable_cpus` worker threads (:class:`CpuWorkers`), which share no barrier.

Thread counts are changed *for the calling thread only* (:func:`single_threaded`): the
OpenMP ``nthreads-var`` and MKL's thread-local setting are per-thread, so no other thread —
a concurrent search, the caller's own torch code — ever sees a change, and the previous
values are restored on exit. torch's ``set_num_threads`` is not used: it also rewrites the
process-wide default that every new thread starts from.

Example:
    >>> n = usable_cpus()
    >>> n >= 1
    True
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with single_threaded():
    ...     inside = torch.get_num_threads()
    >>> (inside, torch.get_num_threads() == before)
    (1, True)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import torch

from ._cpus import CPUS_ENV, cpu_quota, usable_cpus

__all__ = ["CPUS_ENV", "CpuWorkers", "cpu_quota", "single_threaded", "usable_cpus"]

T = TypeVar("T")


class _Runtime:
    """The per-thread setters of the OpenMP runtime and MKL that torch itself uses (None when
    this torch build exposes neither, e.g. no OpenMP)."""

    def __init__(self) -> None:
        self.omp_get: Any = None
        self.omp_set: Any = None
        self.mkl_set: Any = None
        libs = []
        torch_lib = Path(torch.__file__).parent / "lib"
        for pattern in ("libgomp*.so*", "libiomp*.so*", "libomp*.so*", "libomp*.dylib", "libtorch_cpu.*"):
            for path in sorted(torch_lib.glob(pattern)):
                with contextlib.suppress(OSError):
                    libs.append(ctypes.CDLL(str(path)))
        for lib in libs:
            try:
                get, put = lib.omp_get_max_threads, lib.omp_set_num_threads
            except AttributeError:
                continue
            get.restype, get.argtypes, put.argtypes = ctypes.c_int, [], [ctypes.c_int]
            self.omp_get, self.omp_set = get, put
            break
        for lib in libs:
            with contextlib.suppress(AttributeError):
                # MKL's Fortran-style entry point (takes a pointer): present whatever the C
                # symbol's visibility; returns the previous thread-local setting (0 = none).
                fn = lib.mkl_set_num_threads_local_
                fn.restype, fn.argtypes = ctypes.c_int, [ctypes.POINTER(ctypes.c_int)]
                self.mkl_set = lambda n, _fn=fn: int(_fn(ctypes.byref(ctypes.c_int(n))))
                break


_runtime: _Runtime | None = None
_runtime_lock = threading.Lock()


def _get_runtime() -> _Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = _Runtime()
        return _runtime


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch's CPU operations of the *calling thread* on one thread inside the block.

    Only this thread's OpenMP and MKL settings change, and both are restored on exit, so
    concurrent callers cannot undo each other's setting. Where the runtime exposes no
    per-thread control, nothing is changed (operations may then use torch's threads).
    """
    rt = _get_runtime()
    if rt.omp_set is None:
        yield
        return
    torch.get_num_threads()  # torch's one-time per-thread initialisation first, or it would overwrite ours
    before = int(rt.omp_get())
    rt.omp_set(1)
    mkl_before = int(rt.mkl_set(1)) if rt.mkl_set is not None else 0
    try:
        yield
    finally:
        if rt.mkl_set is not None:
            rt.mkl_set(mkl_before)  # 0 = "no thread-local setting", as before
        rt.omp_set(before)


def _single_threaded_forever() -> None:
    """Worker-thread initialiser: this thread runs torch on one thread for its whole life."""
    rt = _get_runtime()
    torch.get_num_threads()
    if rt.omp_set is not None:
        rt.omp_set(1)
    if rt.mkl_set is not None:
        rt.mkl_set(1)


class CpuWorkers:
    """``usable_cpus()`` threads that each run torch on one thread (one pool per process).

    Work submitted here shares no barrier: with another process on the machine each thread
    runs when it is scheduled, instead of every operation waiting for its slowest half.

    Example:
        >>> CpuWorkers.shared().map_ordered(lambda x: x * 2, [1, 2, 3])
        [2, 4, 6]
    """

    _shared: CpuWorkers | None = None
    _lock = threading.Lock()

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.pid = os.getpid()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="splade-qdrant-cpu", initializer=_single_threaded_forever)

    @classmethod
    def shared(cls) -> CpuWorkers:
        """The process's pool, sized from :func:`usable_cpus` when first used (a forked child
        gets its own: the parent's threads do not exist there)."""
        with cls._lock:
            if cls._shared is None or cls._shared.pid != os.getpid():
                cls._shared = cls(usable_cpus())
            return cls._shared

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._pool.submit(fn, *args)

    def map_ordered(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        return [f.result() for f in [self._pool.submit(fn, x) for x in items]]
