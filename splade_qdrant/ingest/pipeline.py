"""The ingest pipeline, top to bottom: read → validate → plan → encode → write.

:func:`ingest` checks its options, the input and the target collection, then for each batch
of documents read: validates caller-supplied dense vectors, hashes and builds payloads,
plans against what is stored (:mod:`.plan`), encodes what the plan says (:mod:`.encode`),
creates the collection on the first batch if needed, and queues the points for the writer
thread (:mod:`.writer`). After the last batch it deletes documents no longer in the input
when asked (``delete_missing``), merges segments and counts.

Example:
    >>> from splade_qdrant.documents import Document
    >>> batch = prepare([Document("a", "wing")], [None], store_text=False)
    >>> batch.ids == [point_id("a")], batch.payloads[0]["doc_id"]
    (True, 'a')
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..dense import DenseEncoderLike
from ..documents import (
    BadInput,
    Document,
    DocumentLike,
    check_source,
    count_lines,
    iter_documents,
)
from ..errors import InputError
from ..store.base import PointRecord, SparseDatatype, Store
from .checks import Target, check_options
from .encode import checked_dense, encode_chunks, encode_documents
from .plan import plan_chunks, plan_documents, read_stored, read_stored_chunks
from .points import document_hash, make_payload, point_id
from .progress import Progress
from .report import IngestReport
from .writer import Delete, Writer, delete_missing

if TYPE_CHECKING:
    from ..pair import EncoderPair

__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_UPSERT_BATCH", "Batch", "ingest", "prepare"]

logger = logging.getLogger(__name__)

#: Documents read, deduplicated against the store and encoded together.
DEFAULT_CHUNK_SIZE = 512
#: Points per store write.
DEFAULT_UPSERT_BATCH = 256


@dataclass
class Batch:
    """Documents read together, with their point ids, hashes and payloads."""

    docs: list[Document]
    given: list[np.ndarray | None]
    ids: list[str]
    payloads: list[dict[str, Any]]


def read(documents: Iterable[DocumentLike] | str | os.PathLike[str], size: int, *, skip_bad: bool, bad: list[BadInput]) -> Iterator[list[Document]]:
    """Validated documents in lists of ``size`` (bad ones raise, or go to ``bad``)."""
    batch: list[Document] = []
    for doc in iter_documents(documents, skip_bad=skip_bad, bad=bad):
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def prepare(docs: list[Document], given: Sequence[np.ndarray | None], *, store_text: bool) -> Batch:
    """Point ids, content hashes and payloads of validated documents."""
    hashes = [document_hash(d, v) for d, v in zip(docs, given)]
    payloads = [make_payload(d, h, store_text) for d, h in zip(docs, hashes)]
    return Batch(docs, list(given), [point_id(d.id) for d in docs], payloads)


def _progress_mode(show_progress: bool | None) -> str:
    if show_progress is None:
        return "bar" if sys.stderr.isatty() else "lines"
    return "bar" if show_progress else "off"


def _total(documents: Any, mode: str) -> int | None:
    if mode == "off":
        return None
    if isinstance(documents, (str, os.PathLike)):
        return count_lines(documents) or None
    return len(documents) if hasattr(documents, "__len__") else None


class _Run:
    """One ingest's state: the target, the writer, the report and its options."""

    def __init__(
        self, target: Target, pair: EncoderPair, dense: DenseEncoderLike | None, report: IngestReport, progress: Progress,
        *, store_text: bool, insert_only: bool, skip_unchanged: bool, upsert_batch: int,
    ) -> None:
        self.target, self.pair, self.dense, self.report, self.progress = target, pair, dense, report, progress
        self.store_text, self.insert_only, self.skip_unchanged, self.upsert_batch = store_text, insert_only, skip_unchanged, upsert_batch
        self.writer = Writer(target.store, target.name, self.insert_only)
        self.writer.start()

    def whole(self, batch: Batch) -> None:
        """Plan, encode and write a batch of whole documents."""
        target, report = self.target, self.report
        look = target.exists and (self.skip_unchanged or self.insert_only)
        stored = read_stored(target.store, target.name, batch.ids) if look else [None] * len(batch.ids)
        plan = plan_documents(
            batch.payloads, stored, insert_only=self.insert_only, skip_unchanged=self.skip_unchanged,
            can_refresh=target.can_refresh, store_text=self.store_text,
        )
        report.skipped_unchanged += plan.skipped_unchanged
        report.skipped_existing += plan.skipped_existing
        todo = list(plan.encode)
        if plan.refresh:
            vectors = {p.id: p.sparse for p in target.store.retrieve(target.name, [batch.ids[i] for i in plan.refresh], with_vectors=True)}
            points = []
            for i in plan.refresh:
                vec = vectors.get(batch.ids[i])
                if vec is None:  # deleted meanwhile
                    todo.append(i)
                    continue
                points.append(PointRecord(batch.ids[i], vec, plan.payloads[i]))
                report.total_nnz += len(vec)
            report.payload_updated += len(points)
            self.writer.put_points(points, self.upsert_batch)
        if todo:
            self.progress.stage(f"encoding {len(todo)} documents")
            encoded = encode_documents(
                self.pair.document, self.dense, [batch.docs[i] for i in todo], [batch.given[i] for i in todo], [plan.payloads[i] for i in todo]
            )
            self.write(encoded.points, encoded.stale, encoded.long_documents, encoded.nnz, encoded.seconds)

    def chunked(self, batch: Batch) -> None:
        """Plan, encode and write a batch for a chunked collection (one point per window)."""
        target, report = self.target, self.report
        doc_ids = [d.id for d in batch.docs]
        if target.exists:
            firsts, lasts = read_stored_chunks(target.store, target.name, doc_ids)
        else:
            firsts, lasts = [None] * len(doc_ids), [False] * len(doc_ids)
        plan = plan_chunks(
            batch.payloads, firsts, lasts, insert_only=self.insert_only, skip_unchanged=self.skip_unchanged, store_text=self.store_text
        )
        report.skipped_unchanged += plan.skipped_unchanged
        report.skipped_existing += plan.skipped_existing
        if plan.encode:
            self.progress.stage(f"encoding {len(plan.encode)} documents")
            encoded = encode_chunks(
                self.pair.document, self.dense, [batch.docs[i] for i in plan.encode], [batch.payloads[i] for i in plan.encode],
                with_text=plan.with_text, old_counts=[plan.old_counts.get(i, 0) for i in plan.encode],
            )
            self.write(encoded.points, encoded.stale, encoded.long_documents, encoded.nnz, encoded.seconds)

    def write(self, points: list[PointRecord], stale: list[str], long_documents: int, nnz: int, seconds: float) -> None:
        """Count an encoding step, create the collection if this is its first write, queue the points."""
        self.progress.stage(None)
        self.report.long_documents += long_documents
        self.report.total_nnz += nnz
        self.report.encode_seconds += seconds
        self.target.ensure()
        if stale:  # a re-encoded document that now has fewer chunks
            self.writer.put(Delete(stale))
        self.writer.put_points(points, self.upsert_batch)


def _stopped(err: InputError, stored: int) -> InputError:
    """``err`` saying how many documents were stored before it, and that a rerun resumes."""
    if stored == 0 or err.line is None:
        return err
    return InputError(
        f"{err.reason}; {stored} documents were stored before this line: fix it (or skip bad lines with --skip-bad) "
        "and rerun the same command, which skips what is stored",
        source=err.source, line=err.line, doc_id=err.doc_id,
    )


def ingest(
    store: Store,
    collection: str,
    documents: Iterable[DocumentLike] | str | os.PathLike[str],
    *,
    pair: EncoderPair,
    dense: DenseEncoderLike | None = None,
    store_text: bool = False,
    insert_only: bool = False,
    skip_unchanged: bool = True,
    skip_bad: bool = False,
    delete_missing: bool = False,
    sparse_datatype: SparseDatatype | None = None,
    allow_idf: bool | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    upsert_batch: int = DEFAULT_UPSERT_BATCH,
    optimize: bool = True,
    show_progress: bool | None = None,
) -> IngestReport:
    """Encode documents and upsert them into ``collection`` (created with its first batch).

    Args:
        store: where to write (see :func:`splade_qdrant.store.open_store`).
        collection: collection name.
        documents: a JSONL / BEIR corpus path (``.gz`` / ``.bz2`` / ``.zst`` read
            transparently), or an iterable of dicts, tuples or Documents.
        pair: the SPLADE encoders (the document side encodes; both are fingerprinted).
        dense: optional dense encoder; its vectors are stored beside the sparse ones.
        store_text: also keep the encoded text in the payload (``"text"``). Without it, text
            stored by an earlier run stays on documents whose text is unchanged.
        insert_only: never overwrite an existing point.
        skip_unchanged: skip documents stored already with the same content hash and payload
            (False: re-encode and rewrite every document).
        skip_bad: skip malformed lines (and bad ``dense_vector`` fields) and report them in
            ``IngestReport.bad`` instead of stopping; an input with no good line still fails.
        delete_missing: afterwards, delete the stored documents (all their chunks) that the
            input no longer has, so the collection mirrors it. Nothing is deleted without it.
        sparse_datatype: ``"float32"`` (exact), ``"float16"`` or ``"uint8"`` (smaller index)
            for a new collection; None: float32, or what an existing collection recorded.
        allow_idf: create the sparse vector with Qdrant's IDF modifier (wrong for SPLADE,
            whose weights already encode term importance; only for experiments). None: no, or
            as recorded.
        chunk_size: documents encoded together (sorted by length inside a chunk).
        upsert_batch: points per store write.
        optimize: merge and index segments at the end (embedded store).
        show_progress: a bar (True), nothing (False), or by default a bar when stderr is a
            terminal and a line every ``SPLADE_QDRANT_PROGRESS_INTERVAL`` seconds (30) otherwise.

    Returns:
        An :class:`IngestReport`.
    """
    check_options(chunk_size=chunk_size, upsert_batch=upsert_batch, sparse_datatype=sparse_datatype)
    if isinstance(documents, (str, os.PathLike)):
        check_source(documents, skip_bad=skip_bad)
    started = time.perf_counter()
    report = IngestReport(collection, long_docs=pair.document.long_docs)
    target = Target(store, collection, pair, dense, sparse_datatype=sparse_datatype, idf=allow_idf)
    mode = _progress_mode(show_progress)
    progress = Progress(f"ingest {collection}", total=_total(documents, mode), mode=mode)  # type: ignore[arg-type]
    run = _Run(target, pair, dense, report, progress, store_text=store_text, insert_only=insert_only,
               skip_unchanged=skip_unchanged, upsert_batch=upsert_batch)
    seen: set[str] = set()  # every input id: only --delete-missing needs it (it grows with the input)
    done = 0  # documents of completed batches, for the message of a stop on a bad line
    stop: InputError | None = None
    try:
        for docs in read(documents, chunk_size, skip_bad=skip_bad, bad=report.bad):
            kept, given = checked_dense(docs, dense, skip_bad=skip_bad, bad=report.bad)
            if delete_missing:
                seen.update(d.id for d in kept)
            report.documents += len(kept)
            report.empty_texts += sum(1 for d in kept if not d.text)
            batch = prepare(kept, given, store_text=store_text)
            (run.chunked if pair.document.long_docs == "chunk" else run.whole)(batch)
            done += len(kept)
            progress.update(len(docs))
    except InputError as err:
        stop = err
    finally:
        progress.close()
        run.writer.stop()
    if run.writer.error is not None:
        raise run.writer.error
    if stop is not None:
        raise _stopped(stop, done) from None
    report.points_written = run.writer.written
    if report.documents == 0 and report.bad:
        raise InputError(f"all {len(report.bad)} input lines were bad; nothing was stored (first: {report.bad[0]})")
    if delete_missing:
        _delete_missing(target, report, seen)
    if target.exists:
        if optimize and (report.points_written or report.deleted_points):
            store.optimize(collection)
        report.points_in_collection = store.count(collection)
    report.seconds = time.perf_counter() - started
    logger.info("ingest into %s: %s", collection, report.as_dict())
    return report


def _delete_missing(target: Target, report: IngestReport, seen: set[str]) -> None:
    """Delete what the input no longer has, unless that could lose documents silently."""
    if report.documents == 0:
        raise InputError("the input has no documents: delete_missing would empty the collection; drop it instead if that is meant")
    unknown = [b for b in report.bad if b.doc_id is None]
    if unknown:
        report.delete_held_back = f"{len(unknown)} skipped bad lines have no readable document id (first: {unknown[0]})"
        return
    if not target.exists:
        return
    keep = seen | {b.doc_id for b in report.bad if b.doc_id is not None}
    report.deleted_documents, report.deleted_points = delete_missing(target.store, target.name, keep)
