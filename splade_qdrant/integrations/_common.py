"""What the framework adapters share: the encoder pair they load, text checks, stable ids,
the metadata of a hit, and the bounded executor that keeps encoders off the event loop.

Nothing here imports a framework.

Example:
    >>> key, digest = document_key(None, "wing lift")
    >>> key == digest and len(digest)
    True
    >>> document_key("d1", "wing lift")[0]
    'd1'
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ..documents import content_hash, iter_documents
from ..errors import ConfigError, InputError
from ..pair import EncoderPair
from ..search import SearchHit
from ..sparse import SparseVector

__all__ = ["OffLoop", "PairLoader", "as_lists", "check_query", "check_texts", "document_key", "hit_metadata"]

T = TypeVar("T")

#: Encoder options every adapter takes, with the library's defaults (see :class:`EncoderPair`).
OPTION_NAMES = (
    "model", "doc_model", "query_model", "doc_max_length", "query_max_length", "long_docs", "window_overlap",
    "doc_top_k", "doc_threshold", "query_top_k", "query_threshold", "batch_size", "device", "half",
)


class PairLoader:
    """The encoder pair an adapter uses: the one given, or one loaded on first use from the
    options (thread-safe). Encoding goes through :meth:`encode_documents` /
    :meth:`encode_queries`, one call at a time (the encoders keep per-call state).

    Args:
        pair: an already loaded pair (then ``options`` must not name models).
        options: keyword arguments of :meth:`EncoderPair.from_pretrained`.
        framework: named in error messages.
    """

    def __init__(self, pair: EncoderPair | None, options: dict[str, Any], *, framework: str) -> None:
        if pair is not None and any(options.get(k) is not None for k in ("model", "doc_model", "query_model")):
            raise ConfigError("give pair= or model options (model, doc_model, query_model), not both")
        long_docs = pair.document.long_docs if pair is not None else options.get("long_docs")
        if long_docs == "chunk":
            raise ConfigError(
                f"long_docs='chunk' stores one point per window, but {framework} stores one vector per text; "
                "use long_docs='first-plus' (default), 'window' or 'truncate'"
            )
        self._pair = pair
        self.options = dict(options)
        self._load_lock = threading.Lock()
        self._encode_lock = threading.Lock()

    @property
    def pair(self) -> EncoderPair:
        """The pair (loaded on first use)."""
        if self._pair is None:
            with self._load_lock:
                if self._pair is None:
                    self._pair = EncoderPair.from_pretrained(**self.options)
        return self._pair

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        """Document vectors, input order (texts checked first)."""
        checked = check_texts(texts)
        pair = self.pair
        with self._encode_lock:
            return pair.document.encode(checked)

    def encode_queries(self, queries: Sequence[str]) -> list[SparseVector]:
        """Query vectors, input order (each query checked first)."""
        checked = [check_query(q) for q in queries]
        pair = self.pair
        with self._encode_lock:
            return pair.query.encode(checked)

    def settings(self) -> dict[str, Any]:
        """Options that rebuild this pair (for ``to_dict``): the given options, or those of the given pair."""
        if self._pair is None or any(self.options.get(k) is not None for k in ("model", "doc_model", "query_model")):
            return dict(self.options)
        doc, query = self._pair.document, self._pair.query
        return {
            **self.options,
            "doc_model": doc.name, "query_model": query.name, "doc_max_length": doc.max_length,
            "query_max_length": query.max_length, "long_docs": doc.long_docs,
            "window_overlap": None if doc.long_docs == "truncate" else doc.window_overlap,
            "doc_top_k": doc.top_k, "doc_threshold": doc.threshold, "query_top_k": query.top_k,
            "query_threshold": query.threshold, "batch_size": doc.batch_size, "device": doc.mlm.device.type,
            "half": doc.mlm.dtype.is_floating_point and doc.mlm.dtype.itemsize == 2,
        }


def check_texts(texts: Sequence[Any], *, ids: Sequence[str | None] | None = None) -> list[str]:
    """``texts`` as a list of strings, or the library's :class:`InputError` for the first bad one
    (the reason is the one the CLI prints for the same document; ``line`` is the 1-based position).

    Raises:
        TypeError: ``texts`` is one string.
        InputError: a text is not a string or holds an unpaired surrogate.
    """
    if isinstance(texts, str):
        raise TypeError("encode expects a sequence of strings, not one string")
    out = list(texts)
    for i, text in enumerate(out):
        if isinstance(text, str) and text.isascii():
            continue
        doc_id = ids[i] if ids is not None else None
        try:
            list(iter_documents([{"id": doc_id or "-", "text": text}]))
        except InputError as err:
            raise InputError(err.reason, source="<texts>", line=i + 1, doc_id=doc_id) from None
    return out


def check_query(query: Any) -> str:
    """``query`` if it is a string (the searcher's own check and message)."""
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, got {type(query).__name__}")
    return query


def document_key(doc_id: str | int | None, text: str) -> tuple[str, str]:
    """``(key, content hash)`` of a document: the key is its own id when it has one, else the
    hash of its text (so the same text added twice gets the same point id)."""
    digest = content_hash(text)
    if doc_id is None or str(doc_id) == "":
        return digest, digest
    return str(doc_id), digest


def as_lists(vectors: Sequence[SparseVector]) -> tuple[list[list[int]], list[list[float]]]:
    """Parallel ``(indices, values)`` lists of Python ints and floats."""
    return [v.indices.tolist() for v in vectors], [v.values.tolist() for v in vectors]


def hit_metadata(hit: SearchHit) -> dict[str, Any]:
    """A hit's payload (without ``text``) plus ``doc_id``, ``point_id``, ``score`` and, for
    hybrid hits asked with ``breakdown``, each side's rank and score."""
    meta = {k: v for k, v in hit.payload.items() if k != "text"}
    meta.update(doc_id=hit.id, point_id=hit.point_id, score=hit.score)
    if hit.breakdown is not None:
        meta["breakdown"] = hit.breakdown.as_dict()
    return meta


class OffLoop:
    """A bounded executor (``workers`` threads, created on first use) for encoder and store
    calls made from coroutines, so the event loop never waits on torch."""

    def __init__(self, workers: int = 1, *, name: str = "splade-qdrant") -> None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self._name)
        return self._pool

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the executor."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def shutdown(self) -> None:
        """Stop the threads (after the calls in flight)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
