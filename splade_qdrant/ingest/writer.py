"""Writing: a thread that drains points (and deletions, in order) into the store, and the
deletion of documents no longer in the source (``delete_missing``).

Encoding and writing overlap: the encoder fills a bounded queue that the writer drains, so
the encoder never waits on the store unless the store is slower.

Example:
    >>> from splade_qdrant.store import open_store
    >>> from splade_qdrant.store.base import CollectionSpec
    >>> store = open_store(":memory:")
    >>> store.create_collection("c", CollectionSpec())
    >>> writer = Writer(store, "c", insert_only=False)
    >>> writer.start(); writer.finish()
    0
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Collection
from dataclasses import dataclass

from ..store.base import PointRecord, Store

__all__ = ["Delete", "Writer", "delete_missing"]

logger = logging.getLogger(__name__)

_QUEUE_DEPTH = 4
#: Point ids per delete request.
_DELETE_BATCH = 1000


@dataclass(frozen=True)
class Delete:
    """A deletion queued in order with the writes (stale chunks of a re-encoded document)."""

    ids: list[str]


class Writer(threading.Thread):
    """Drains batches of points (and deletions, in order) into the store; the first error is
    kept and re-raised in the caller's thread."""

    def __init__(self, store: Store, collection: str, insert_only: bool) -> None:
        super().__init__(name="splade-qdrant-writer", daemon=True)
        self.store, self.collection, self.insert_only = store, collection, insert_only
        self.queue: queue.Queue[list[PointRecord] | Delete | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
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
                if isinstance(batch, Delete):
                    self.store.delete(self.collection, batch.ids)
                    continue
                self.store.upsert(self.collection, batch, insert_only=self.insert_only)
                self.written += len(batch)
                logger.info("ingest into %s: %d points written", self.collection, self.written)
            except BaseException as exc:  # noqa: BLE001 — re-raised in the caller's thread
                self.error = exc

    def put(self, batch: list[PointRecord] | Delete) -> None:
        """Queue a write or a deletion; raises the writer's first error, if any."""
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def put_points(self, points: list[PointRecord], size: int) -> None:
        """Queue ``points`` in writes of ``size``."""
        for start in range(0, len(points), size):
            self.put(points[start : start + size])

    def stop(self) -> None:
        """Let the queued work finish and the thread end (errors stay in :attr:`error`)."""
        if self.is_alive():
            self.queue.put(None)
            self.join()

    def finish(self) -> int:
        """Stop, re-raise the first error, and return the points written."""
        self.stop()
        if self.error is not None:
            raise self.error
        return self.written


def delete_missing(store: Store, collection: str, keep: Collection[str]) -> tuple[int, int]:
    """Delete every point whose ``doc_id`` is not in ``keep`` (chunk windows included).

    Points without a ``doc_id`` (not written by ingest) are left alone.

    Returns:
        (documents deleted, points deleted).
    """
    doomed: list[str] = []
    documents: set[str] = set()
    for point in store.iter_points(collection):
        doc_id = point.payload.get("doc_id")
        if doc_id is not None and str(doc_id) not in keep:
            doomed.append(point.id)
            documents.add(str(doc_id))
    for start in range(0, len(doomed), _DELETE_BATCH):
        store.delete(collection, doomed[start : start + _DELETE_BATCH])
    if doomed:
        logger.info("ingest into %s: %d documents (%d points) no longer in the input deleted", collection, len(documents), len(doomed))
    return len(documents), len(doomed)
