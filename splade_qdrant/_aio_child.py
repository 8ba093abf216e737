"""The worker process of :class:`~splade_qdrant.aio.AsyncSpladeQdrant` (``worker="process"``),
and what both sides of its connection share.

``python -m splade_qdrant._aio_child FD`` serves one :class:`~splade_qdrant.SpladeQdrant` over
the connected socket ``FD`` (the parent's :class:`~splade_qdrant._aio_worker.ProcessWorker`
made it with :func:`socket.socketpair`). Messages are pickled tuples, one request and one
reply at a time:

=====================================  ==================================================
parent → child                          child → parent
=====================================  ==================================================
``("init", collection, arguments)``    ``("ok", pid)`` or ``("error", err)`` (then exits)
``("search_batch", qs, options, vs)``  ``("ok", hits)``
``("info",)``                          ``("ok", info)``
``("ingest_path", path, options)``     ``("ok", report)``; a ``("stop",)`` sent meanwhile
                                       ends it with ``("stopped",)``
``("ingest_stream", options)``         ``("more",)`` … answered by ``("docs", [...])``,
                                       ``("end",)``, ``("stop",)`` or ``("input_error",
                                       reason, source, line, doc_id)``; then the result
``("close",)``                         ``("ok", None)``, and the child exits
=====================================  ==================================================

Any call may instead get ``("error", err)``: :func:`encode_error` / :func:`decode_error`
carry the exception's class, arguments and attributes, so the caller gets the same class
with the same message (our errors have custom ``__init__`` signatures, so plain pickling of
exceptions would not rebuild them). The child exits when the connection reaches end of file
(the parent closed it or died); it ignores SIGINT, so a Ctrl-C in a terminal reaches only the
parent, which closes it.

Example:
    >>> from splade_qdrant.errors import InputError
    >>> err = decode_error(encode_error(InputError("missing 'text'", source="c.jsonl", line=3)))
    >>> type(err).__name__, str(err), err.line
    ('InputError', "c.jsonl:3: missing 'text'", 3)
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from .errors import InputError, SpladeQdrantError

__all__ = ["Stopped", "decode_error", "encode_error", "main", "run_ingest", "serve"]


class Stopped(Exception):
    """Raised inside an ingest's document iterator when the ingest was cancelled."""


class _RemoteTraceback(Exception):
    """The worker process's traceback, attached as ``__cause__`` of an error it raised."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def encode_error(exc: BaseException) -> tuple[str, str, bytes | None, bytes | None, str, str]:
    """(module, class name, pickled args, pickled attributes, message, traceback) of ``exc``."""
    cls = type(exc)

    def dumped(value: object) -> bytes | None:
        try:
            return pickle.dumps(value)
        except Exception:  # noqa: BLE001 — an unpicklable part is dropped, the message stays
            return None

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return cls.__module__, cls.__qualname__, dumped(exc.args), dumped(dict(vars(exc))), str(exc), text


def decode_error(encoded: tuple[str, str, bytes | None, bytes | None, str, str]) -> BaseException:
    """The exception :func:`encode_error` described: the same class rebuilt without calling its
    ``__init__`` (args and attributes restored), or a :class:`SpladeQdrantError` with the message."""
    module, name, args, attrs, message, text = encoded
    exc: BaseException | None = None
    try:
        cls: Any = importlib.import_module(module)
        for part in name.split("."):
            cls = getattr(cls, part)
        if isinstance(cls, type) and issubclass(cls, Exception) and args is not None:
            values = pickle.loads(args)
            exc = cls.__new__(cls, *values)
            exc.args = values
            if attrs is not None:
                exc.__dict__.update(pickle.loads(attrs))
    except Exception:  # noqa: BLE001 — fall back to the message
        exc = None
    if exc is None:
        exc = SpladeQdrantError(f"{name}: {message}" if message else name)
    exc.__cause__ = _RemoteTraceback(f'\n"""\n{text}"""  (in the AsyncSpladeQdrant worker process)')
    return exc


def run_ingest(sq: Any, documents: Any, options: dict[str, Any], stopped: Callable[[], bool]) -> Any:
    """``sq.ingest`` over validated documents, raising :class:`Stopped` from the document
    iterator once ``stopped()`` — the writer flushes what it was handed first. Bad items
    (``skip_bad``) found while reading come first in the report's ``bad``."""
    from .documents import BadInput, Document, iter_documents

    bad: list[BadInput] = []

    def stoppable() -> Iterator[Document]:
        for doc in iter_documents(documents, skip_bad=options["skip_bad"], bad=bad):
            if stopped():
                raise Stopped
            yield doc

    report = sq.ingest(stoppable(), show_progress=False, **options)
    report.bad[:0] = bad
    return report


def _stream(conn: Connection) -> Iterator[Any]:
    """The documents of an ``ingest_stream``, asked from the parent a chunk at a time."""
    while True:
        conn.send(("more",))
        message = conn.recv()
        if message[0] == "docs":
            yield from message[1]
        elif message[0] == "end":
            return
        elif message[0] == "input_error":
            raise InputError(message[1], source=message[2], line=message[3], doc_id=message[4])
        else:
            raise Stopped


def _stop_asked(conn: Connection) -> bool:
    """Whether the parent asked to stop (or went away) during an ``ingest_path``."""
    if not conn.poll():
        return False
    try:
        conn.recv()  # only ("stop",) is sent during an ingest_path
    except (EOFError, OSError):
        pass
    return True


def serve(conn: Connection) -> None:
    """Answer the parent's requests until ``close`` or end of file; the store is closed on the way out."""
    from .collection import SpladeQdrant

    sq: SpladeQdrant | None = None
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            op = message[0]
            if op == "stop":  # arrived after its ingest had finished
                continue
            reply: tuple[Any, ...]
            try:
                if op == "init":
                    sq = SpladeQdrant(message[1], **message[2])
                    result: Any = os.getpid()
                else:
                    assert sq is not None, "the first message is init"
                    if op == "search_batch":
                        result = sq.searcher.search_batch(message[1], dense_vectors=message[3], **message[2])
                    elif op == "info":
                        result = sq.info()
                    elif op == "ingest_path":
                        result = run_ingest(sq, message[1], message[2], lambda: _stop_asked(conn))
                    elif op == "ingest_stream":
                        result = run_ingest(sq, _stream(conn), message[1], lambda: False)
                    elif op == "close":
                        sq, closing = None, sq
                        closing.close()
                        result = None
                    else:
                        raise RuntimeError(f"unknown request {op!r}")
                reply = ("ok", result)
            except Stopped:
                reply = ("stopped",)
            except Exception as exc:  # noqa: BLE001 — every error goes back to the caller
                reply = ("error", encode_error(exc))
            if not _reply(conn, reply) or op == "close" or (op == "init" and reply[0] == "error"):
                return
    finally:
        if sq is not None:
            sq.close()


def _reply(conn: Connection, reply: tuple[Any, ...]) -> bool:
    """Send ``reply`` (an error instead if it cannot be pickled); False once the parent is gone."""
    try:
        try:
            conn.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            conn.send(("error", encode_error(exc)))
    except (EOFError, OSError):
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m splade_qdrant._aio_child FD``."""
    args = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(args[0]))
    code = 0
    try:
        serve(conn)  # closes the store on every way out
    except BaseException:  # noqa: BLE001 — a bug: shown, then the parent sees the exit code
        traceback.print_exc()
        code = 1
    finally:
        conn.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # skip the interpreter's teardown of torch's thread pools (a second or more)


if __name__ == "__main__":
    main()
