"""What an ingest did: :class:`IngestReport`.

Example:
    >>> r = IngestReport("cran", documents=10, points_written=10, seconds=2.0, total_nnz=500)
    >>> r.docs_per_s, r.avg_nnz
    (5.0, 50.0)
    >>> print(r.summary().splitlines()[0])
    collection 'cran': 10 documents read, 10 points written in 2.0 s (5 documents/s), 50 non-zero terms on average
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import DEFAULT_LONG_DOCS, LONG_DOCS_TAIL_WEIGHT
from ..documents import BadInput

__all__ = ["IngestReport"]

_LONG_DOCS_HOW = {
    "first-plus": f"first window kept whole, the later windows' terms added at {LONG_DOCS_TAIL_WEIGHT:g} of their weight",
    "window": "split into overlapping windows, max-pooled into one vector",
    "chunk": "split into overlapping windows, one point each",
    "truncate": "TRUNCATED to the first window (--long-docs truncate)",
}


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
    long_docs: str = DEFAULT_LONG_DOCS
    bad: list[BadInput] = field(default_factory=list)
    seconds: float = 0.0
    encode_seconds: float = 0.0
    total_nnz: int = 0
    points_in_collection: int = 0
    #: Documents (and their points) deleted because the input no longer has them (``delete_missing``).
    deleted_documents: int = 0
    deleted_points: int = 0
    #: Why ``delete_missing`` deleted nothing although asked, if it was held back.
    delete_held_back: str | None = None

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
            "deleted_documents": self.deleted_documents,
            "deleted_points": self.deleted_points,
            "delete_held_back": self.delete_held_back,
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
            (
                f"collection {self.collection!r}: {self.documents} documents read, {self.points_written} points written "
                f"in {self.seconds:.1f} s ({self.docs_per_s:.0f} documents/s), {self.avg_nnz:.0f} non-zero terms on average"
            ),
        ]
        if self.skipped_unchanged:
            lines.append(f"{self.skipped_unchanged} unchanged documents skipped (already stored with the same content)")
        if self.payload_updated:
            lines.append(f"{self.payload_updated} documents with unchanged text got a new payload (not re-encoded)")
        if self.skipped_existing:
            lines.append(f"{self.skipped_existing} existing documents kept (insert-only)")
        if self.deleted_documents:
            lines.append(f"{self.deleted_documents} documents no longer in the input deleted ({self.deleted_points} points)")
        if self.delete_held_back:
            lines.append(f"nothing deleted: {self.delete_held_back}")
        if self.long_documents:
            lines.append(f"{self.long_documents} documents longer than the model's window: {_LONG_DOCS_HOW[self.long_docs]}")
        if self.empty_texts:
            lines.append(f"{self.empty_texts} documents with empty text stored (encoded from [CLS] [SEP] alone)")
        if self.bad:
            lines.append(f"{len(self.bad)} bad input lines skipped:")
            lines.extend(f"  {b}" for b in self.bad[:20])
            if len(self.bad) > 20:
                lines.append(f"  … and {len(self.bad) - 20} more")
        lines.append(f"{self.points_in_collection} points in the collection")
        return "\n".join(lines)
