"""Ingestion: documents → SPLADE (and optional dense) vectors → points in a Qdrant collection.

Encoding and writing overlap: the encoder fills a bounded queue that a writer thread drains
into the store, so the encoder never waits on the store unless the store is slower.

Point ids are ``uuid5(NAMESPACE, document id)`` — deterministic, so re-ingesting the same
documents replaces rather than duplicates them. The payload carries ``doc_id`` (the original
id), ``content_hash`` (of the encoded text, and of the caller's ``dense_vector`` when one is
given), the document's other fields and, optionally, the ``text``.

Rerunning an ingest is idempotent: a document already stored with the same hash and the
same payload is skipped without re-encoding (``skipped_unchanged``); one whose payload alone
changed gets the new payload on its stored vectors without re-encoding (``payload_updated``;
collections with float32 sparse weights and no dense vectors, otherwise it is re-encoded);
one whose text changed is re-encoded and replaced. So an interrupted ingest (crash, kill,
bad line) resumes by rerunning the same command: every acknowledged write survived (Qdrant
Edge replays its write-ahead log) and only what is missing is encoded. ``insert_only``
never touches a stored point.

Example:
    >>> point_id("doc-1")
    '65d10a98-cbda-5820-b0ff-84293cb9ea0b'
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import fingerprint
from .dense import DenseEncoderLike, check_dense_vector
from .documents import BadInput, Document, DocumentLike, content_hash, count_lines, iter_documents
from .errors import CollectionExistsError, ConfigError, InputError
from .pair import EncoderPair
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


def point_id(doc_id: str, chunk: int | None = None) -> str:
    """The deterministic Qdrant point id (a UUID string) of a document id, or of one of its
    chunks (``long_docs="chunk"``: ``uuid5("<doc id>#<chunk index>")``)."""
    key = str(doc_id) if chunk is None else f"{doc_id}#{int(chunk)}"
    return str(uuid.uuid5(ID_NAMESPACE, key))


@dataclass
class IngestReport:
    """What an ingest did. Times in seconds; rates per second."""

    collection: str
    documents: int = 0
    points_written: int = 0
    skipped_unchanged: int = 0
    payload_updated: int = 0
    skipped_existing: int = 0
    empty_texts: int = 0
    long_documents: int = 0
    long_docs: str = "window"
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
            "payload_updated": self.payload_updated,
            "skipped_existing": self.skipped_existing,
            "empty_texts": self.empty_texts,
            "long_documents": self.long_documents,
            "long_docs": self.long_docs,
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
        if self.payload_updated:
            lines.append(f"{self.payload_updated} documents with unchanged text got a new payload (not re-encoded)")
        if self.skipped_existing:
            lines.append(f"{self.skipped_existing} existing documents kept (insert-only)")
        if self.long_documents:
            how = {
                "window": "split into overlapping windows, max-pooled into one vector",
                "chunk": "split into overlapping windows, one point each",
                "truncate": "TRUNCATED to the first window (--long-docs truncate)",
            }[self.long_docs]
            lines.append(f"{self.long_documents} documents longer than the model's window: {how}")
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
    if not store.collection_exists(collection):
        dense_spec = None if dense is None else DenseSpec("dense", int(dense.dim), dense.distance)  # type: ignore[arg-type]
        spec = CollectionSpec(
            sparse_datatype=sparse_datatype,
            idf=idf,
            dense=dense_spec,
            metadata=fingerprint.build(settings, sparse_vector="splade", dense=dense_settings),
        )
        try:
            store.create_collection(collection, spec)
            return spec
        except CollectionExistsError:
            pass  # created by another process meanwhile: check it like any existing collection
    spec = store.spec(collection)
    recorded = spec.metadata
    fingerprint.check_documents(recorded, settings["document"], collection=collection)
    if (recorded.get("dense") is None) != (dense is None):
        has = "has" if recorded.get("dense") else "has no"
        raise ConfigError(f"collection {collection!r} {has} dense vectors; ingest with the same dense settings")
    if dense_settings is not None and recorded.get("dense") != dense_settings:
        raise ConfigError(f"collection {collection!r} was built with dense encoder {recorded.get('dense')}, not {dense_settings}")
    return spec


@dataclass(frozen=True)
class _Delete:
    """A deletion queued in order with the writes (stale chunks of a re-encoded document)."""

    ids: list[str]


class _Writer(threading.Thread):
    """Drains batches of points (and deletions, in order) into the store; the first error is
    kept and re-raised."""

    def __init__(self, store: Store, collection: str, insert_only: bool) -> None:
        super().__init__(name="splade-qdrant-writer", daemon=True)
        self.store, self.collection, self.insert_only = store, collection, insert_only
        self.queue: queue.Queue[list[PointRecord] | _Delete | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
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
                if isinstance(batch, _Delete):
                    self.store.delete(self.collection, batch.ids)
                    continue
                self.store.upsert(self.collection, batch, insert_only=self.insert_only)
                self.written += len(batch)
                logger.info("ingest into %s: %d points written", self.collection, self.written)
            except BaseException as exc:  # noqa: BLE001 — re-raised in the caller's thread
                self.error = exc

    def put(self, batch: list[PointRecord] | _Delete) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def put_points(self, points: list[PointRecord], size: int) -> None:
        for start in range(0, len(points), size):
            self.put(points[start : start + size])


def _chunks(docs: Iterable[Document], size: int) -> Iterable[list[Document]]:
    chunk: list[Document] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked_dense(
    chunk: list[Document], dense: DenseEncoderLike | None, *, skip_bad: bool, bad: list[BadInput]
) -> tuple[list[Document], list[np.ndarray | None]]:
    """Validate caller-supplied ``dense_vector`` fields; bad ones raise, or are dropped when ``skip_bad``.

    Returns the documents kept and, for each, its validated float32 vector (None: the dense
    encoder computes it).
    """
    if dense is None:
        doc = next((d for d in chunk if d.dense_vector is not None), None)
        if doc is not None:
            raise InputError(
                "document has a 'dense_vector' but the ingest has no dense side; "
                "pass dense=DenseEncoder.precomputed(dim) (or a dense model)",
                source=doc.source, line=doc.line, doc_id=doc.id,
            )
        return chunk, [None] * len(chunk)
    precomputed = getattr(dense, "name", None) == "precomputed"
    kept: list[Document] = []
    vectors: list[np.ndarray | None] = []
    for doc in chunk:
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


def _dense_rows(docs: Sequence[Document], given: Sequence[np.ndarray | None], dense: DenseEncoderLike) -> np.ndarray:
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


def _chunk_plan(
    store: Store, collection: str, chunk: list[Document], hashes: list[str], payloads: list[dict[str, Any]],
    *, insert_only: bool, skip_unchanged: bool, report: IngestReport,
) -> tuple[list[int], dict[int, int]]:
    """Which documents of a chunked collection to (re-)encode, and how many chunks each
    has stored now (to delete the stale ones).

    A document counts as stored when its chunk 0 carries the same content hash and payload
    and its last chunk exists: chunks are written in order, so a crash mid-document is
    re-encoded on the next run.
    """
    firsts = [point_id(d.id, 0) for d in chunk]
    stored = {p.id: p.payload for p in store.retrieve(collection, firsts)}
    todo: list[int] = []
    old_counts: dict[int, int] = {}
    complete: list[int] = []
    for i, pid in enumerate(firsts):
        old = stored.get(pid)
        if old is None:
            todo.append(i)
            continue
        if insert_only:
            report.skipped_existing += 1
            continue
        old_counts[i] = int((old.get("chunk") or {}).get("count", 1))
        old_doc = {k: v for k, v in old.items() if k not in ("chunk", "text")}
        if skip_unchanged and old.get("content_hash") == hashes[i] and _same_payload(old_doc, json.loads(json.dumps(payloads[i]))):
            complete.append(i)
        else:
            todo.append(i)
    if complete:
        lasts = {point_id(chunk[i].id, old_counts[i] - 1): i for i in complete}
        present = {p.id for p in store.retrieve(collection, list(lasts))}
        for pid, i in lasts.items():
            if pid in present:
                report.skipped_unchanged += 1
            else:
                todo.append(i)
    return sorted(todo), old_counts


def _chunk_points(
    docs: list[Document], payloads: list[dict[str, Any]], pair: EncoderPair, dense: DenseEncoderLike | None, store_text: bool
) -> list[list[PointRecord]]:
    """Per document, one point per window: the window's vector, the document's payload plus
    ``chunk`` = {index, count, start, end} (character span) and, optionally, the window's text."""
    if dense is not None and getattr(dense, "name", None) == "precomputed":
        raise ConfigError("caller-supplied dense vectors cannot be split per chunk; use --long-docs window or a dense model")
    chunked = pair.document.encode_chunks([d.text for d in docs])
    dense_rows = None
    if dense is not None:
        windows = [replace(d, text=d.text[c.start : c.end]) for d, cs in zip(docs, chunked) for c in cs]
        dense_rows = iter(_dense_rows(windows, [None] * len(windows), dense))
    out = []
    for doc, payload, chunks in zip(docs, payloads, chunked):
        points = []
        for k, c in enumerate(chunks):
            p = {k2: v for k2, v in payload.items() if k2 != "text"}
            p["chunk"] = {"index": k, "count": len(chunks), "start": c.start, "end": c.end}
            if store_text:
                p["text"] = doc.text[c.start : c.end]
            vec = None if dense_rows is None else next(dense_rows)
            points.append(PointRecord(point_id(doc.id, k), c.vector, p, vec))
        out.append(points)
    return out


def _payload(doc: Document, digest: str, store_text: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"doc_id": doc.id, "content_hash": digest, **doc.metadata}
    if store_text:
        payload["text"] = doc.text
    return payload


#: Qdrant Edge hands payload floats back within a few ulps (its JSON number parsing).
_FLOAT_REL_TOL = 1e-12


def _same_payload(stored: Any, wanted: Any) -> bool:
    """``stored`` (as read back) equals ``wanted`` (JSON-normalised), floats within a few ulps."""
    if isinstance(stored, float) or isinstance(wanted, float):
        return (
            isinstance(stored, (int, float)) and isinstance(wanted, (int, float))
            and not isinstance(stored, bool) and not isinstance(wanted, bool)
            and math.isclose(stored, wanted, rel_tol=_FLOAT_REL_TOL)
        )
    if isinstance(stored, dict) and isinstance(wanted, dict):
        return stored.keys() == wanted.keys() and all(_same_payload(stored[k], wanted[k]) for k in wanted)
    if isinstance(stored, list) and isinstance(wanted, list):
        return len(stored) == len(wanted) and all(_same_payload(a, b) for a, b in zip(stored, wanted))
    return type(stored) is type(wanted) and stored == wanted


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
        skip_unchanged: skip documents stored already with the same content hash and payload
            (False: re-encode and rewrite every document).
        skip_bad: skip malformed lines (and bad ``dense_vector`` fields) and report them in
            ``IngestReport.bad`` instead of stopping.
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
    report = IngestReport(collection, long_docs=pair.document.long_docs)
    chunked = pair.document.long_docs == "chunk"
    spec = _ensure_collection(store, collection, pair, dense, sparse_datatype=sparse_datatype, idf=allow_idf)
    # A payload-only change reuses the stored sparse vector when it reads back exactly.
    can_refresh = spec.sparse_datatype == "float32" and spec.dense is None
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
            read = len(chunk)
            chunk, given = _checked_dense(chunk, dense, skip_bad=skip_bad, bad=report.bad)
            report.documents += len(chunk)
            report.empty_texts += sum(1 for d in chunk if not d.text)
            ids = [point_id(d.id) for d in chunk]
            hashes = [
                content_hash(d.text) if v is None else content_hash(d.text, extra=v.tobytes())
                for d, v in zip(chunk, given)
            ]
            payloads = [_payload(d, h, store_text) for d, h in zip(chunk, hashes)]
            if chunked:
                todo, old_counts = _chunk_plan(
                    store, collection, chunk, hashes, payloads, insert_only=insert_only, skip_unchanged=skip_unchanged, report=report
                )
                if todo:
                    t0 = time.perf_counter()
                    long_before = pair.document.long_texts
                    per_doc = _chunk_points([chunk[i] for i in todo], [payloads[i] for i in todo], pair, dense, store_text)
                    report.long_documents += pair.document.long_texts - long_before
                    report.encode_seconds += time.perf_counter() - t0
                    stale = [point_id(chunk[i].id, k) for i, pts in zip(todo, per_doc) for k in range(len(pts), old_counts.get(i, 0))]
                    if stale:  # a re-encoded document that now has fewer chunks
                        writer.put(_Delete(stale))
                    points = [p for pts in per_doc for p in pts]
                    report.total_nnz += sum(len(p.sparse) for p in points)
                    writer.put_points(points, upsert_batch)
                if bar is not None:
                    bar.update(read)
                continue
            todo = list(range(len(chunk)))
            refresh: list[int] = []
            if skip_unchanged or insert_only:
                stored = {p.id: p.payload for p in store.retrieve(collection, ids)}
                keep = []
                for i in todo:
                    old = stored.get(ids[i])
                    if old is None:
                        keep.append(i)
                    elif insert_only:
                        report.skipped_existing += 1
                    elif old.get("content_hash") != hashes[i]:
                        keep.append(i)
                    elif _same_payload(old, json.loads(json.dumps(payloads[i]))):  # tuples → lists, …
                        report.skipped_unchanged += 1
                    elif can_refresh:
                        refresh.append(i)
                    else:
                        keep.append(i)
                todo = keep
            if refresh:
                vectors = {p.id: p.sparse for p in store.retrieve(collection, [ids[i] for i in refresh], with_vectors=True)}
                points = []
                for i in refresh:
                    vec = vectors.get(ids[i])
                    if vec is None:  # deleted meanwhile
                        todo.append(i)
                        continue
                    points.append(PointRecord(ids[i], vec, payloads[i]))
                    report.total_nnz += len(vec)
                report.payload_updated += len(points)
                writer.put_points(points, upsert_batch)
            if todo:
                t0 = time.perf_counter()
                texts = [chunk[i].text for i in todo]
                long_before = pair.document.long_texts
                sparse = pair.document.encode(texts)
                report.long_documents += pair.document.long_texts - long_before
                dense_rows = None if dense is None else _dense_rows([chunk[i] for i in todo], [given[i] for i in todo], dense)
                report.encode_seconds += time.perf_counter() - t0
                points = [
                    PointRecord(ids[i], sparse[k], payloads[i], None if dense_rows is None else dense_rows[k])
                    for k, i in enumerate(todo)
                ]
                report.total_nnz += sum(len(v) for v in sparse)
                writer.put_points(points, upsert_batch)
            if bar is not None:
                bar.update(read)
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

