"""The two workers behind :class:`~splade_qdrant.aio.AsyncSpladeQdrant`, as the event loop's side sees them.

Both have the same four blocking methods — ``search_batch``, ``info``, ``ingest``,
``close`` — which the async class calls from its one executor thread, one at a time:

* :class:`ThreadWorker` runs a :class:`~splade_qdrant.SpladeQdrant` in that thread.
* :class:`ProcessWorker` keeps the :class:`~splade_qdrant.SpladeQdrant` (encoders and store)
  in a child process, ``python -m splade_qdrant._aio_child``, started with
  :class:`subprocess.Popen` — not multiprocessing's spawn/forkserver, which re-run the
  caller's ``__main__`` module, and never a fork of a process with torch threads. The two
  ends talk over a private :func:`socket.socketpair` wrapped in
  :class:`multiprocessing.connection.Connection` (pickled tuples, see :mod:`._aio_child`).
  The child starts on the first call; if it dies, the call in flight raises
  :class:`~splade_qdrant.errors.WorkerDiedError` and the next call starts a new one.

Example:
    >>> choose_worker("auto", store="./data", dense_model=None)
    'process'
    >>> from splade_qdrant.store import open_store
    >>> choose_worker("auto", store=open_store(":memory:"), dense_model=None)
    'thread'
"""

from __future__ import annotations

import os
import queue
import signal
import site
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

from ._aio_child import Stopped, decode_error, run_ingest
from ._cpus import CPUS_ENV, usable_cpus
from .collection import SpladeQdrant
from .documents import BadInput, Document, DocumentLike, iter_documents
from .errors import ConfigError, InputError, StoreUnavailableError, WorkerDiedError
from .hits import SearchHit
from .ingest import IngestReport

__all__ = ["ProcessWorker", "Stopped", "ThreadWorker", "WorkerKind", "choose_worker"]

WorkerKind = Literal["auto", "thread", "process"]
#: Documents sent to the child per message during an ingest from an iterable.
SEND_CHUNK = 64
#: Documents read ahead of the child (the parent's queue bound: backpressure).
READ_AHEAD = 256
#: Seconds between checks for a cancellation while the child reads a file.
POLL_S = 0.05
#: Seconds ``close`` waits for the child to close its store and exit before killing it.
CLOSE_TIMEOUT_S = 60.0


def choose_worker(worker: str, *, store: object, dense_model: object) -> Literal["thread", "process"]:
    """The worker to use: ``"process"`` when asked or (``"auto"``) when every argument can cross
    a process boundary, else ``"thread"``; ``worker="process"`` with an in-process object is a ConfigError."""
    if worker not in ("auto", "thread", "process"):
        raise ConfigError(f"worker must be 'auto', 'thread' or 'process', got {worker!r}")
    if worker == "thread":
        return "thread"
    blockers = []
    if store is not None and not isinstance(store, (str, os.PathLike)):
        blockers.append(f"store is a {type(store).__name__} object (give its directory or url instead)")
    if dense_model is not None and not isinstance(dense_model, (str, os.PathLike)):
        blockers.append(f"dense_model is a {type(dense_model).__name__} object (give its model id or directory instead)")
    if sys.platform == "win32" or not sys.executable:
        blockers.append("this platform cannot start the worker process (no POSIX socketpair or no sys.executable)")
    if worker == "process" and blockers:
        raise ConfigError(f"worker='process' cannot be used: {'; '.join(blockers)}; or use worker='thread'")
    return "thread" if blockers else "process"


class ThreadWorker:
    """The :class:`SpladeQdrant` itself, called in the async object's executor thread."""

    def __init__(self, sq: SpladeQdrant) -> None:
        self.sq = sq

    def search_batch(self, queries: list[str], options: dict[str, Any], vectors: list[Any] | None) -> list[list[SearchHit]]:
        return self.sq.searcher.search_batch(queries, dense_vectors=vectors, **options)

    def info(self) -> dict[str, Any]:
        return self.sq.info()

    def ingest(self, documents: Any, options: dict[str, Any], stop: threading.Event) -> IngestReport:
        """Ingest; raises :class:`Stopped` (after the writer flushed) once ``stop`` is set."""
        return run_ingest(self.sq, documents, options, stop.is_set)

    def close(self) -> None:
        self.sq.close()


class ProcessWorker:
    """A :class:`SpladeQdrant` in a child process; every method blocks (call it off the loop).

    Args:
        collection: collection name.
        arguments: the other :class:`SpladeQdrant` constructor arguments (picklable).
    """

    def __init__(self, collection: str, arguments: dict[str, Any]) -> None:
        self.collection = collection
        self.arguments = arguments
        self.cwd = os.getcwd()  # relative paths mean what they meant when the object was made
        self.proc: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None

    # -- the child's life ---------------------------------------------------------------

    def _start(self) -> Connection:
        if self.conn is not None:
            return self.conn
        ours, theirs = socket.socketpair()
        with ours, theirs:
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "splade_qdrant._aio_child", str(theirs.fileno())],
                    pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, cwd=self.cwd, env=_child_env(),
                )
            except OSError as exc:
                raise StoreUnavailableError(
                    f"cannot start the worker process of AsyncSpladeQdrant({self.collection!r}) with {sys.executable}: {exc}; "
                    "use worker='thread'"
                ) from exc
            self.conn = Connection(ours.detach())
        self._call("start", ("init", self.collection, self.arguments))
        return self.conn

    def _died(self, doing: str) -> WorkerDiedError:
        """Forget the dead child; the error to raise for the call that found it dead."""
        proc, self.proc = self.proc, None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        how = "" if code is None else (f" (killed by {_signal_name(-code)})" if code < 0 else f" (exit code {code})")
        pid = "" if proc is None else f" {proc.pid}"
        return WorkerDiedError(
            f"the worker process{pid} of AsyncSpladeQdrant({self.collection!r}) exited{how} during {doing}; "
            "the store is as an interrupted run leaves it (rerun an ingest to resume it), and the next call starts a new worker"
        )

    def _send(self, doing: str, message: tuple[Any, ...]) -> None:
        assert self.conn is not None
        try:
            self.conn.send(message)
        except (OSError, EOFError):
            raise self._died(doing) from None

    def _recv(self, doing: str) -> tuple[Any, ...]:
        assert self.conn is not None
        try:
            message: tuple[Any, ...] = self.conn.recv()
        except (OSError, EOFError):
            raise self._died(doing) from None
        return message

    def _result(self, doing: str, reply: tuple[Any, ...]) -> Any:
        if reply[0] == "ok":
            return reply[1]
        if reply[0] == "stopped":
            raise Stopped
        if reply[0] == "error":
            if doing == "start":  # the child could not open the store: it exits
                self._died(doing)
            raise decode_error(reply[1])
        raise WorkerDiedError(f"unexpected message {reply[0]!r} from the worker process during {doing}")  # a bug

    def _call(self, doing: str, message: tuple[Any, ...]) -> Any:
        self._send(doing, message)
        return self._result(doing, self._recv(doing))

    # -- the four calls -----------------------------------------------------------------

    def search_batch(self, queries: list[str], options: dict[str, Any], vectors: list[Any] | None) -> list[list[SearchHit]]:
        self._start()
        result: list[list[SearchHit]] = self._call("search", ("search_batch", queries, options, vectors))
        return result

    def info(self) -> dict[str, Any]:
        self._start()
        result: dict[str, Any] = self._call("info", ("info",))
        return result

    def ingest(self, documents: Any, options: dict[str, Any], stop: threading.Event) -> IngestReport:
        """Ingest in the child: a path is read there; an iterable is read here, in a reader thread,
        and sent in chunks as the child asks for them. Raises :class:`Stopped` once ``stop`` is set
        and the child has written what it was handed."""
        conn = self._start()
        if isinstance(documents, (str, os.PathLike)):
            self._send("ingest", ("ingest_path", os.fspath(documents), options))
            asked = False
            while not _ready(conn):
                if stop.is_set() and not asked:
                    self._send("ingest", ("stop",))
                    asked = True
            report: IngestReport = self._result("ingest", self._recv("ingest"))
            return report
        return self._ingest_stream(documents, options, stop)

    def _ingest_stream(self, documents: Iterable[DocumentLike], options: dict[str, Any], stop: threading.Event) -> IngestReport:
        bad: list[BadInput] = []
        reader = _Reader(documents, skip_bad=options["skip_bad"], bad=bad, stop=stop)
        failure: BaseException | None = None
        self._send("ingest", ("ingest_stream", options))
        try:
            while True:
                reply = self._recv("ingest")
                if reply[0] != "more":
                    break
                docs, end = reader.take()
                if docs:
                    self._send("ingest", ("docs", docs))
                elif isinstance(end, InputError):  # raised inside the child's ingest, as in thread mode
                    self._send("ingest", ("input_error", end.reason, end.source, end.line, end.doc_id))
                elif isinstance(end, BaseException):  # the caller's iterable failed: stop, then raise it here
                    failure = end
                    self._send("ingest", ("stop",))
                else:
                    self._send("ingest", (end,))  # "end" or "stop"
        finally:
            reader.abandon()
        try:
            report: IngestReport = self._result("ingest", reply)
        except Stopped:
            if failure is not None:
                raise failure from None
            raise
        report.bad[:0] = bad
        return report

    def close(self) -> None:
        """Ask the child to close its store and exit; kill it if it does not within :data:`CLOSE_TIMEOUT_S`."""
        proc, conn = self.proc, self.conn
        if proc is None or conn is None:
            return
        try:
            conn.send(("close",))
            if conn.poll(CLOSE_TIMEOUT_S):
                reply = conn.recv()
                if reply[0] == "error":
                    raise decode_error(reply[1])
        except (OSError, EOFError):
            pass  # it is gone already
        finally:
            conn.close()
            self.conn = self.proc = None
            try:
                proc.wait(timeout=CLOSE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    @property
    def pid(self) -> int | None:
        """The child's process id, or None before the first call."""
        return None if self.proc is None else self.proc.pid


class _Reader:
    """Reads and validates the caller's documents in a thread of its own into a bounded queue.

    Once ``stop`` is set it reads no further document; what it queued before is still sent.
    The last item is ``"end"``, ``"stop"`` or the exception the iterable raised.
    """

    def __init__(self, documents: Iterable[DocumentLike], *, skip_bad: bool, bad: list[BadInput], stop: threading.Event) -> None:
        self.documents, self.skip_bad, self.bad, self.stop = documents, skip_bad, bad, stop
        self.items: queue.Queue[Document | str | BaseException] = queue.Queue(READ_AHEAD)
        self.abandoned = threading.Event()
        self.last: str | BaseException | None = None
        threading.Thread(target=self._read, name="splade-qdrant-async-reader", daemon=True).start()

    def _put(self, item: Document | str | BaseException) -> bool:
        while not self.abandoned.is_set():
            try:
                self.items.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for doc in iter_documents(self.documents, skip_bad=self.skip_bad, bad=self.bad):
                if self.stop.is_set():
                    self._put("stop")
                    return
                if not self._put(doc):
                    return
            self._put("end")
        except BaseException as exc:  # noqa: BLE001 — handed to the ingest that reads this queue
            self._put(exc)

    def take(self) -> tuple[list[Document], str | BaseException | None]:
        """Up to :data:`SEND_CHUNK` documents (waiting for the first), or none and how the input ended."""
        if self.last is not None:
            return [], self.last
        docs: list[Document] = []
        block = True
        while len(docs) < SEND_CHUNK:
            try:
                item = self.items.get(block=block)
            except queue.Empty:
                break
            block = False
            if isinstance(item, Document):
                docs.append(item)
            else:
                self.last = item
                break
        return docs, (None if docs else self.last)

    def abandon(self) -> None:
        self.abandoned.set()


def _ready(conn: Connection) -> bool:
    try:
        return conn.poll(POLL_S)
    except (OSError, EOFError):
        return True  # the recv that follows reports it


def _child_env() -> dict[str, str]:
    """This environment, with this copy of splade_qdrant importable first unless it is installed,
    and the worker's encoders capped at one CPU fewer than this process may use (unless
    :data:`~splade_qdrant._threads.CPUS_ENV` is set already): a batch that kept every core busy
    would leave the event loop waiting for one whenever its timers fire."""
    env = dict(os.environ)
    if not env.get(CPUS_ENV):
        env[CPUS_ENV] = str(max(1, usable_cpus() - 1))
    root = str(Path(__file__).resolve().parents[1])
    dirs = [*getattr(site, "getsitepackages", list)(), getattr(site, "USER_SITE", None) or ""]
    installed = {str(Path(p).resolve()) for p in dirs if p}
    if root not in installed:
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"

