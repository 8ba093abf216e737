"""Ingestion: documents → SPLADE (and optional dense) vectors → points in a Qdrant collection.

Encoding and writing overlap: the encoder fills a bounded queue that a writer thread drains
into the store, so the encoder never waits on the store unless the store is slower.

Point ids are ``uuid5(NAMESPACE, document id)`` — deterministic, so re-ingesting the same
documents replaces rather than duplicates them. The payload carries ``doc_id`` (the original
id), ``content_hash`` (of the encoded text), the document's other fields and, optionally, the
``text``. Documents already stored with the same hash are skipped without re-encoding,
which also makes an interrupted ingest resumable by rerunning it.

Example:
    >>> point_id("doc-1")
    'c4a9cc35-5f0f-5c4b-8e6b-61d1a0d4b4f1'
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import fingerprint
from .dense import DenseEncoderLike, check_dense_vector
from .documents import BadInput, Document, DocumentLike, content_hash, count_lines, iter_documents
from .errors import ConfigError, InputError
from .pair import EncoderPair
from .sparse import SparseVector
from .store.base import CollectionSpec, DenseSpec, PointRecord, SparseDatatype, Store

__all__ = ["IngestReport", "ingest", "point_id"]

logger = logging.getLogger(__name__)

#: Namespace of the deterministic point ids.
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://pypi.org/project/splade-qdrant/")
#: Documents read, deduplicated against the store and encoded together.
DEFAULT_CHUNK_SIZE = 512
#: Points per store write.
DEFAULT_UPSERT_BATCH = 256
_QUEUE_DEPTH = 4


def point_id(doc_id: str) -> str:
    """The deterministic Qdrant point id (a UUID string) of a document id."""
    return str(uuid.uuid5(ID_NAMESPACE, str(doc_id)))


@dataclass
class IngestReport:
    """What an ingest did. Times in seconds; rates per second."""

    collection: str
    documents: int = 0
    points_written: int = 0
    skipped_unchanged: int = 0
    skipped_existing: int = 0
    empty_texts: int = 0
    bad: list[BadInput] = field(default_factory=list)
    seconds: float = 0.0
    encode_seconds: float = 0.0
    total_nnz: int = 0
    points_in_collection: int = 0

    @property
    def docs_per_s(self) -> float:
        return self.documents / self.seconds if self.seconds > 0 else 0.0

    @property
    def avg_nnz(self) -> float:
        return self.total_nnz / self.points_written if self.points_written else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "documents": self.documents,
            "points_written": self.points_written,
            "skipped_unchanged": self.skipped_unchanged,
            "skipped_existing": self.skipped_existing,
            "empty_texts": self.empty_texts,
            "bad": [str(b) for b in self.bad],
            "seconds": round(self.seconds, 3),
            "encode_seconds": round(self.encode_seconds, 3),
            "documents_per_s": round(self.docs_per_s, 1),
            "avg_nonzero_terms": round(self.avg_nnz, 1),
            "points_in_collection": self.points_in_collection,
        }

    def summary(self) -> str:
        lines = [
            f"collection {self.collection!r}: {self.documents} documents read, {self.points_written} points written "
            f"in {self.seconds:.1f} s ({self.docs_per_s:.0f} documents/s), {self.avg_nnz:.0f} non-zero terms on average",
        ]
        if self.skipped_unchanged:
            lines.append(f"{self.skipped_unchanged} unchanged documents skipped (already stored with the same content)")
        if self.skipped_existing:
            lines.append(f"{self.skipped_existing} existing documents kept (insert-only)")
        if self.empty_texts:
            lines.append(f"{self.empty_texts} documents with empty text stored (encoded from [CLS] [SEP] alone)")
        if self.bad:
            lines.append(f"{len(self.bad)} bad input lines skipped:")
            lines.extend(f"  {b}" for b in self.bad[:20])
            if len(self.bad) > 20:
                lines.append(f"  … and {len(self.bad) - 20} more")
        lines.append(f"{self.points_in_collection} points in the collection")
        return "\n".join(lines)


def _ensure_collection(
    store: Store,
    collection: str,
    pair: EncoderPair,
    dense: DenseEncoderLike | None,
    *,
    sparse_datatype: SparseDatatype,
    idf: bool,
) -> CollectionSpec:
    settings = pair.settings()
    dense_settings = None if dense is None else dense.settings()
    if store.collection_exists(collection):
        spec = store.spec(collection)
        recorded = spec.metadata
        fingerprint.check_documents(recorded, settings["document"], collection=collection)
        if (recorded.get("dense") is None) != (dense is None):
            has = "has" if recorded.get("dense") else "has no"
            raise ConfigError(f"collection {collection!r} {has} dense vectors; ingest with the same dense settings")
        if dense_settings is not None and recorded.get("dense") != dense_settings:
            raise ConfigError(f"collection {collection!r} was built with dense encoder {recorded.get('dense')}, not {dense_settings}")
        return spec
    dense_spec = None if dense is None else DenseSpec("dense", int(dense.dim), dense.distance)  # type: ignore[arg-type]
    spec = CollectionSpec(
        sparse_datatype=sparse_datatype,
        idf=idf,
        dense=dense_spec,
        metadata=fingerprint.build(settings, sparse_vector="splade", dense=dense_settings),
    )
    store.create_collection(collection, spec)
    return spec


class _Writer(threading.Thread):
    """Drains batches of points into the store; the first error is kept and re-raised."""

    def __init__(self, store: Store, collection: str, insert_only: bool) -> None:
        super().__init__(name="splade-qdrant-writer", daemon=True)
        self.store, self.collection, self.insert_only = store, collection, insert_only
        self.queue: queue.Queue[list[PointRecord] | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self.error: BaseException | None = None
        self.written = 0

    def run(self) -> None:
        while True:
            batch = self.queue.get()
            if batch is None:
                return
            if self.error is not None:
                continue  # drain without writing after a failure
            try:
                self.store.upsert(self.collection, batch, insert_only=self.insert_only)
                self.written += len(batch)
            except BaseException as exc:  # noqa: BLE001 — re-raised in the caller's thread
                self.error = exc

    def put(self, batch: list[PointRecord]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(batch)


def _chunks(docs: Iterable[Document], size: int) -> Iterable[list[Document]]:
    chunk: list[Document] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _dense_rows(docs: Sequence[Document], dense: DenseEncoderLike) -> np.ndarray:
    """Caller-supplied ``dense_vector`` fields where present, the dense encoder elsewhere."""
    rows = np.zeros((len(docs), dense.dim), dtype=np.float32)
    missing = []
    for k, doc in enumerate(docs):
        if doc.dense_vector is None:
            missing.append(k)
            continue
        try:
            rows[k] = check_dense_vector(doc.dense_vector, dense.dim, what="'dense_vector'")
        except InputError as err:
            raise InputError(err.reason, source=doc.source, line=doc.line, doc_id=doc.id) from None
    if missing:
        encoded = dense.encode([docs[k].text for k in missing])
        bad = ~np.isfinite(encoded).all(axis=1)
        if bad.any():
            doc = docs[missing[int(np.flatnonzero(bad)[0])]]
            raise InputError("the dense encoder returned NaN or infinity", source=doc.source, line=doc.line, doc_id=doc.id)
        rows[missing] = encoded
    return rows


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
    sparse_datatype: SparseDatatype = "float32",
    allow_idf: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    upsert_batch: int = DEFAULT_UPSERT_BATCH,
    optimize: bool = True,
    show_progress: bool | None = None,
) -> IngestReport:
    """Encode documents and upsert them into ``collection`` (created on first use).

    Args:
        store: where to write (see :func:`splade_qdrant.store.open_store`).
        collection: collection name.
        documents: a JSONL / BEIR corpus path, or an iterable of dicts, tuples or Documents.
        pair: the SPLADE encoders (the document side encodes; both are fingerprinted).
        dense: optional dense encoder; its vectors are stored beside the sparse ones.
        store_text: also keep the encoded text in the payload (``"text"``).
        insert_only: never overwrite an existing point.
        skip_unchanged: skip documents stored already with the same content hash.
        skip_bad: skip malformed lines and report them instead of stopping.
        sparse_datatype: ``"float32"`` (exact), ``"float16"`` or ``"uint8"`` (smaller index).
        allow_idf: create the sparse vector with Qdrant's IDF modifier (wrong for SPLADE,
            whose weights already encode term importance; only for experiments).
        chunk_size: documents encoded together (sorted by length inside a chunk).
        upsert_batch: points per store write.
        optimize: merge and index segments at the end (embedded store).
        show_progress: progress bar; default on when stderr is a terminal.

    Returns:
        An :class:`IngestReport`.
    """
    if chunk_size < 1 or upsert_batch < 1:
        raise ConfigError("chunk_size and upsert_batch must be >= 1")
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    started = time.perf_counter()
    report = IngestReport(collection)
    _ensure_collection(store, collection, pair, dense, sparse_datatype=sparse_datatype, idf=allow_idf)
    docs = iter_documents(documents, skip_bad=skip_bad, bad=report.bad)
    total = count_lines(documents) if show_progress and isinstance(documents, (str, os.PathLike)) else None
    bar: Any = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="doc", desc=f"ingest {collection}")
    writer = _Writer(store, collection, insert_only)
    writer.start()
    try:
        for chunk in _chunks(docs, chunk_size):
            report.documents += len(chunk)
            report.empty_texts += sum(1 for d in chunk if not d.text)
            if dense is None and any(d.dense_vector is not None for d in chunk):
                doc = next(d for d in chunk if d.dense_vector is not None)
                raise InputError(
                    "document has a 'dense_vector' but the ingest has no dense side; "
                    "pass dense=DenseEncoder.precomputed(dim) (or a dense model)",
                    source=doc.source, line=doc.line, doc_id=doc.id,
                )
            ids = [point_id(d.id) for d in chunk]
            hashes = [content_hash(d.text) for d in chunk]
            todo = list(range(len(chunk)))
            if skip_unchanged or insert_only:
                stored = {p.id: p.payload.get("content_hash") for p in store.retrieve(collection, ids)}
                keep = []
                for i in todo:
                    if ids[i] not in stored:
                        keep.append(i)
                    elif insert_only:
                        report.skipped_existing += 1
                    elif stored[ids[i]] == hashes[i]:
                        report.skipped_unchanged += 1
                    else:
                        keep.append(i)
                todo = keep
            if todo:
                t0 = time.perf_counter()
                texts = [chunk[i].text for i in todo]
                sparse = pair.document.encode(texts)
                dense_rows = None if dense is None else _dense_rows([chunk[i] for i in todo], dense)
                report.encode_seconds += time.perf_counter() - t0
                points = [
                    _point(chunk[i], ids[i], hashes[i], sparse[k], None if dense_rows is None else dense_rows[k], store_text)
                    for k, i in enumerate(todo)
                ]
                report.total_nnz += sum(len(v) for v in sparse)
                for start in range(0, len(points), upsert_batch):
                    writer.put(points[start : start + upsert_batch])
            if bar is not None:
                bar.update(len(chunk))
    finally:
        writer.queue.put(None)
        writer.join()
        if bar is not None:
            bar.close()
    if writer.error is not None:
        raise writer.error
    report.points_written = writer.written
    if optimize and writer.written:
        store.optimize(collection)
    report.points_in_collection = store.count(collection)
    report.seconds = time.perf_counter() - started
    logger.info("ingest into %s: %s", collection, report.as_dict())
    return report


def _point(doc: Document, pid: str, digest: str, sparse: SparseVector, dense: np.ndarray | None, store_text: bool) -> PointRecord:
    payload: dict[str, Any] = {"doc_id": doc.id, "content_hash": digest, **doc.metadata}
    if store_text:
        payload["text"] = doc.text
    return PointRecord(pid, sparse, payload, dense)
