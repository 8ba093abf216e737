"""Encoding: planned documents → points, each step returning what it counted.

:func:`encode_documents` makes one point per document (long ones windowed and max-pooled, or
truncated); :func:`encode_chunks` one point per window. Both return an :class:`Encoded`:
the points, how many documents were longer than the window, their non-zero terms and the
time spent — the pipeline adds those to its report instead of reading encoder counters.

Example:
    >>> Encoded(points=[], long_documents=0, nnz=0, seconds=0.0).stale
    []
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..dense import DenseEncoderLike, check_dense_vector
from ..documents import BadInput, Document
from ..errors import ConfigError, InputError
from ..store.base import PointRecord
from .points import point_id

if TYPE_CHECKING:  # the encoders (torch) are only passed in: importing this package loads no model code
    from ..encoder import SpladeEncoder

__all__ = ["Encoded", "checked_dense", "dense_rows", "encode_chunks", "encode_documents"]

T = TypeVar("T")


@dataclass
class Encoded:
    """Points made by one encoding step, and what the step counted.

    Attributes:
        points: the points to write, in order.
        long_documents: documents longer than the document encoder's window.
        nnz: non-zero sparse terms over all points.
        seconds: time spent encoding.
        stale: point ids to delete first (chunks beyond a re-encoded document's new count).
    """

    points: list[PointRecord]
    long_documents: int
    nnz: int
    seconds: float
    stale: list[str] = field(default_factory=list)


def _counting_long(encoder: SpladeEncoder, fn: Callable[[], T]) -> tuple[T, int]:
    """Run ``fn`` (one call of ``encoder``) and return its result and the long texts it saw.

    The encoder keeps a running count; this is the one place that reads it.
    """
    before = encoder.long_texts
    result = fn()
    return result, encoder.long_texts - before


def checked_dense(
    docs: list[Document], dense: DenseEncoderLike | None, *, skip_bad: bool, bad: list[BadInput]
) -> tuple[list[Document], list[np.ndarray | None]]:
    """Validate caller-supplied ``dense_vector`` fields; bad ones raise, or are dropped when ``skip_bad``.

    Returns the documents kept and, for each, its validated float32 vector (None: the dense
    encoder computes it).
    """
    if dense is None:
        doc = next((d for d in docs if d.dense_vector is not None), None)
        if doc is not None:
            raise InputError(
                "document has a 'dense_vector' but the ingest has no dense side; "
                "pass dense=DenseEncoder.precomputed(dim) (or a dense model)",
                source=doc.source, line=doc.line, doc_id=doc.id,
            )
        return docs, [None] * len(docs)
    precomputed = getattr(dense, "name", None) == "precomputed"
    kept: list[Document] = []
    vectors: list[np.ndarray | None] = []
    for doc in docs:
        try:
            if doc.dense_vector is None:
                if precomputed:
                    raise InputError("no 'dense_vector' field, and this collection's dense vectors are supplied by the caller")
                vector = None
            else:
                vector = check_dense_vector(doc.dense_vector, dense.dim, what="'dense_vector'")
        except InputError as err:
            if not skip_bad:
                raise InputError(err.reason, source=doc.source, line=doc.line, doc_id=doc.id) from None
            bad.append(BadInput(doc.source, doc.line, doc.id, err.reason))
            continue
        kept.append(doc)
        vectors.append(vector)
    return kept, vectors


def dense_rows(docs: Sequence[Document], given: Sequence[np.ndarray | None], dense: DenseEncoderLike) -> np.ndarray:
    """Caller-supplied (validated) vectors where given, the dense encoder elsewhere."""
    rows = np.zeros((len(docs), dense.dim), dtype=np.float32)
    missing = [k for k, v in enumerate(given) if v is None]
    for k, v in enumerate(given):
        if v is not None:
            rows[k] = v
    if missing:
        encoded = dense.encode([docs[k].text for k in missing])
        bad = ~np.isfinite(encoded).all(axis=1)
        if bad.any():
            doc = docs[missing[int(np.flatnonzero(bad)[0])]]
            raise InputError("the dense encoder returned NaN or infinity", source=doc.source, line=doc.line, doc_id=doc.id)
        rows[missing] = encoded
    return rows


def encode_documents(
    encoder: SpladeEncoder,
    dense: DenseEncoderLike | None,
    docs: Sequence[Document],
    given: Sequence[np.ndarray | None],
    payloads: Sequence[dict[str, Any]],
) -> Encoded:
    """One point per document: its sparse vector (and dense one), with its payload."""
    t0 = time.perf_counter()
    sparse, long_documents = _counting_long(encoder, lambda: encoder.encode([d.text for d in docs]))
    rows = None if dense is None else dense_rows(docs, given, dense)
    points = [
        PointRecord(point_id(d.id), vec, p, None if rows is None else rows[k])
        for k, (d, vec, p) in enumerate(zip(docs, sparse, payloads))
    ]
    return Encoded(points, long_documents, sum(len(v) for v in sparse), time.perf_counter() - t0)


def encode_chunks(
    encoder: SpladeEncoder,
    dense: DenseEncoderLike | None,
    docs: Sequence[Document],
    payloads: Sequence[dict[str, Any]],
    *,
    with_text: Sequence[bool],
    old_counts: Sequence[int],
) -> Encoded:
    """One point per window of each document: the window's vector, the document's payload plus
    ``chunk`` = {index, count, start, end} (character span) and, where ``with_text``, the
    window's text. Chunks beyond a document's new count (``old_counts``) are ``stale``."""
    if dense is not None and getattr(dense, "name", None) == "precomputed":
        raise ConfigError("caller-supplied dense vectors cannot be split per chunk; use --long-docs window or a dense model")
    t0 = time.perf_counter()
    chunked, long_documents = _counting_long(encoder, lambda: encoder.encode_chunks([d.text for d in docs]))
    rows = None
    if dense is not None:
        windows = [replace(d, text=d.text[c.start : c.end]) for d, cs in zip(docs, chunked) for c in cs]
        rows = iter(dense_rows(windows, [None] * len(windows), dense))
    points: list[PointRecord] = []
    stale: list[str] = []
    for doc, payload, chunks, text, old in zip(docs, payloads, chunked, with_text, old_counts):
        for k, c in enumerate(chunks):
            p = {key: v for key, v in payload.items() if key != "text"}
            p["chunk"] = {"index": k, "count": len(chunks), "start": c.start, "end": c.end}
            if text:
                p["text"] = doc.text[c.start : c.end]
            points.append(PointRecord(point_id(doc.id, k), c.vector, p, None if rows is None else next(rows)))
        stale.extend(point_id(doc.id, k) for k in range(len(chunks), old))
    nnz = sum(len(p.sparse) for p in points)
    return Encoded(points, long_documents, nnz, time.perf_counter() - t0, stale)
