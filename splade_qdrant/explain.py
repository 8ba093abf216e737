"""Why a document matched: per-term contributions to a sparse score.

Hybrid hits' score breakdowns (each side's rank and score) are :class:`~splade_qdrant.hits.ScoreBreakdown`.

The sparse score is a dot product, so it decomposes exactly into one contribution per
shared vocabulary term: ``query_weight × document_weight``. :func:`explain_match` lists them
largest first; they sum to the score (up to float32 rounding in the engine).

Example:
    >>> from splade_qdrant.sparse import SparseVector
    >>> q = SparseVector.from_dict({10: 1.0, 20: 0.5})
    >>> d = SparseVector.from_dict({10: 2.0, 20: 4.0, 30: 9.0})
    >>> [(m.term, m.contribution) for m in explain_match(q, d, lambda ids: [f"t{i}" for i in ids])]
    [('t10', 2.0), ('t20', 2.0)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .sparse import SparseVector

__all__ = ["TermMatch", "explain_match"]


@dataclass(frozen=True)
class TermMatch:
    """One vocabulary term shared by query and document."""

    term: str
    token_id: int
    query_weight: float
    document_weight: float
    contribution: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain_match(
    query: SparseVector, document: SparseVector, decode: Callable[[Sequence[int]], list[str]]
) -> list[TermMatch]:
    """Shared terms with contributions ``q_j × d_j``, largest first (ties by token id)."""
    shared, qi, di = np.intersect1d(query.indices, document.indices, assume_unique=True, return_indices=True)
    if shared.size == 0:
        return []
    qw = query.values[qi].astype(np.float64)
    dw = document.values[di].astype(np.float64)
    contrib = qw * dw
    order = np.lexsort((shared, -contrib))
    terms = decode(shared[order].tolist())
    return [
        TermMatch(term, int(shared[k]), float(qw[k]), float(dw[k]), float(contrib[k]))
        for term, k in zip(terms, order.tolist())
    ]
