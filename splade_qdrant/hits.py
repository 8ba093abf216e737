"""What a search returns: one :class:`SearchHit` per document, with an optional
:class:`ScoreBreakdown` (hybrid: each side's rank and score) and term explanation.

Example:
    >>> hit = SearchHit("12", 3.5, {"doc_id": "12"}, "c0a8…", ScoreBreakdown(0.03, 1, 3.5, None, None))
    >>> hit.as_dict()["breakdown"]
    {'fused_score': 0.03, 'sparse_rank': 1, 'sparse_score': 3.5, 'dense_rank': None, 'dense_score': None}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .explain import TermMatch
from .store.types import StoredPoint

__all__ = ["ScoreBreakdown", "SearchHit", "hit_from_point"]


@dataclass(frozen=True)
class ScoreBreakdown:
    """Where a hybrid hit came from: each side's rank (from 1) and score, None if absent."""

    fused_score: float
    sparse_rank: int | None
    sparse_score: float | None
    dense_rank: int | None
    dense_score: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SearchHit:
    """One result: the document's own id, its score and the point's payload.

    ``breakdown`` (hybrid, on request) gives each side's rank and score; ``explanation``
    (on request) lists the matching SPLADE terms with their contributions.
    """

    id: str
    score: float
    payload: dict[str, Any]
    point_id: str
    breakdown: ScoreBreakdown | None = None
    explanation: tuple[TermMatch, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (what ``search --json`` prints)."""
        out: dict[str, Any] = {"id": self.id, "score": self.score, "payload": self.payload, "point_id": self.point_id}
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown.as_dict()
        if self.explanation is not None:
            out["explanation"] = [m.as_dict() for m in self.explanation]
        return out


def hit_from_point(
    point: StoredPoint, breakdown: ScoreBreakdown | None = None, explanation: tuple[TermMatch, ...] | None = None
) -> SearchHit:
    """The hit for a stored point: its ``doc_id`` payload field (else the point id) is the hit's id."""
    return SearchHit(str(point.payload.get("doc_id", point.id)), point.score, point.payload, point.id, breakdown, explanation)
