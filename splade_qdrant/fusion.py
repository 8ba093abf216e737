"""Pure rank-fusion functions over plain ranked lists (no database, inputs never modified).

A ranked list is a sequence of ``(id, score)`` pairs, best first. Each function returns a
new list of ``(id, fused_score)``, best first; ties keep first-seen order.

* :func:`rrf` — reciprocal rank fusion, ``Σ_i 1 / (k + rank_i / w_i)`` with rank from 1
  (Cormack et al. 2009; weights as in Qdrant's weighted RRF, which divides the rank).
  ``k = 60`` is the literature's constant; Qdrant's engines count ranks from 0, so the
  engine is asked for ``k + 1`` (see :func:`engine_rrf_k`).
* :func:`dbsf` — distribution-based score fusion as Qdrant computes it: each list's scores
  are mapped through ``(s - (μ - 3σ)) / 6σ`` (sample σ; a one-item or constant list gives
  0.5) and summed.
* :func:`convex` — weighted sum of min-max normalised scores.

Search fuses inside the engine (Qdrant's Query API); these functions are for fusing result
lists the engine never saw together (other collections, other systems, framework adapters)
and are the reference the tests compare the engines' fusion against.

Example:
    >>> sparse = [("a", 9.0), ("b", 7.0)]
    >>> dense = [("b", 0.8), ("c", 0.7)]
    >>> [(i, round(s, 5)) for i, s in rrf([sparse, dense], k=60)]
    [('b', 0.03252), ('a', 0.01639), ('c', 0.01613)]
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import TypeVar

__all__ = ["RankedList", "convex", "dbsf", "engine_rrf_k", "rrf"]

K = TypeVar("K", bound=Hashable)
RankedList = Sequence[tuple[K, float]]

#: The literature's RRF constant (Cormack, Clarke & Büttcher, SIGIR 2009).
DEFAULT_RRF_K = 60


def engine_rrf_k(k: int) -> int:
    """The ``k`` to give Qdrant (ranks from 0) so that it computes ``1 / (k + rank)`` with rank from 1."""
    return int(k) + 1


def _weights(n: int, weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * n
    if len(weights) != n:
        raise ValueError(f"got {len(weights)} weights for {n} ranked lists")
    if any(w < 0 or not math.isfinite(w) for w in weights):
        raise ValueError(f"weights must be finite and >= 0, got {list(weights)}")
    return [float(w) for w in weights]


def _sorted(scores: dict[K, float]) -> list[tuple[K, float]]:
    return sorted(scores.items(), key=lambda kv: -kv[1])  # stable: ties keep first-seen order


def rrf(lists: Sequence[RankedList[K]], *, k: float = DEFAULT_RRF_K, weights: Sequence[float] | None = None) -> list[tuple[K, float]]:
    """Reciprocal rank fusion: ``Σ_i 1 / (k + rank_i / w_i)``, rank from 1; weight 0 ignores a list.

    >>> rrf([[("x", 1.0)], [("x", 5.0)]], k=0)
    [('x', 2.0)]
    """
    ws = _weights(len(lists), weights)
    scores: dict[K, float] = {}
    for ranked, w in zip(lists, ws):
        if w == 0:
            continue
        for rank, (item, _) in enumerate(ranked, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank / w)
    return _sorted(scores)


def _dbsf_normalise(scores: Sequence[float]) -> list[float]:
    n = len(scores)
    if n == 1 or max(scores) == min(scores):
        return [0.5] * n
    mean = sum(scores) / n
    variance = sum((s - mean) ** 2 for s in scores) / (n - 1)
    if variance == 0:
        return [0.5] * n
    std = math.sqrt(variance)
    low, high = mean - 3 * std, mean + 3 * std
    return [(s - low) / (high - low) for s in scores]


def dbsf(lists: Sequence[RankedList[K]]) -> list[tuple[K, float]]:
    """Distribution-based score fusion (Qdrant's definition): sum of 3σ-normalised scores.

    >>> [(i, round(s, 4)) for i, s in dbsf([[("a", 2.0), ("b", 1.0)], [("b", 3.0)]])]
    [('b', 0.8821), ('a', 0.6179)]
    """
    scores: dict[K, float] = {}
    for ranked in lists:
        if not ranked:
            continue
        normalised = _dbsf_normalise([s for _, s in ranked])
        for (item, _), s in zip(ranked, normalised):
            scores[item] = scores.get(item, 0.0) + s
    return _sorted(scores)


def convex(lists: Sequence[RankedList[K]], *, weights: Sequence[float] | None = None) -> list[tuple[K, float]]:
    """Weighted sum of min-max normalised scores (a constant list normalises to 1.0).

    >>> convex([[("a", 10.0), ("b", 0.0)], [("b", 0.9), ("a", 0.5)]], weights=[0.7, 0.3])
    [('a', 0.7), ('b', 0.3)]
    """
    ws = _weights(len(lists), weights)
    scores: dict[K, float] = {}
    for ranked, w in zip(lists, ws):
        if not ranked:
            continue
        values = [s for _, s in ranked]
        lo, hi = min(values), max(values)
        for item, s in ranked:
            norm = 1.0 if hi == lo else (s - lo) / (hi - lo)
            scores[item] = scores.get(item, 0.0) + w * norm
    return _sorted(scores)
