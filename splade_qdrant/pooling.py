"""Pooling the windows of a long document into one SPLADE vector (pure array math, no torch).

A document longer than the encoder's window is encoded window by window; each window's
weights are exact SPLADE weights ``max_t log(1 + relu(logit[t, j]))`` over that window's
tokens. These functions combine a document's ``[windows, vocab]`` weights into one row:

* :func:`max_pool` — the largest weight of each term over all windows (``long_docs="window"``).
  Every window adds its terms at full weight, so long documents get more terms and larger
  norms than short ones and rank above them on real collections.
* :func:`first_plus` — the first window as it is, plus the later windows' terms scaled by
  ``alpha`` (``max(w_0, alpha * max_{k>=1} w_k)``): terms only the tail has are kept, but
  at a fraction of their weight. ``alpha=1`` is :func:`max_pool`, ``alpha=0`` is truncation.
* :func:`mean_pool` — the mean of the windows' weights (length-normalised: a term in one of
  ``n`` windows keeps ``1/n`` of its weight).
* :func:`norm_matched` — :func:`max_pool` rescaled to the first window's L1 norm.

Example:
    >>> import numpy as np
    >>> w = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 1.0]], dtype=np.float32)
    >>> max_pool(w).tolist(), first_plus(w, 0.5).tolist(), mean_pool(w).tolist()
    ([1.0, 3.0, 2.0], [1.0, 1.5, 2.0], [0.5, 1.5, 1.5])
    >>> norm_matched(w).tolist()
    [0.5, 1.5, 1.0]
    >>> weights_to_logits(np.array([0.0, np.log(2.0)], dtype=np.float32)).tolist()
    [0.0, 1.0]
    >>> from splade_qdrant.sparse import activate
    >>> logits = np.array([[0.5, -2.0, np.e - 1.0], [-1.0, 3.0, 1.0]], dtype=np.float32)
    >>> np.allclose(activate(first_plus_logits(logits[0], logits[1], 0.5)), first_plus(activate(logits), 0.5))
    True
"""

from __future__ import annotations

import numpy as np

__all__ = ["first_plus", "first_plus_logits", "max_pool", "mean_pool", "norm_matched", "weights_to_logits"]


def _check(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 2 or w.shape[0] < 1:
        raise ValueError(f"expected [windows >= 1, vocab] weights, got shape {w.shape}")
    return w


def max_pool(weights: np.ndarray) -> np.ndarray:
    """``[vocab]``: each term's largest weight over the windows."""
    return _check(weights).max(axis=0)


def first_plus(weights: np.ndarray, alpha: float) -> np.ndarray:
    """``[vocab]``: ``max(w_0, alpha * max_{k>=1} w_k)`` — the first window, plus the later
    windows' terms down-weighted by ``alpha`` in [0, 1]."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    w = _check(weights)
    if w.shape[0] == 1:
        return w[0].copy()
    return np.maximum(w[0], np.float32(alpha) * w[1:].max(axis=0))


def mean_pool(weights: np.ndarray) -> np.ndarray:
    """``[vocab]``: the mean of the windows' weights."""
    return _check(weights).mean(axis=0, dtype=np.float32)


def norm_matched(weights: np.ndarray) -> np.ndarray:
    """``[vocab]``: :func:`max_pool` scaled so that its L1 norm equals the first window's."""
    w = _check(weights)
    pooled = w.max(axis=0)
    total = float(pooled.sum(dtype=np.float64))
    if total <= 0.0:
        return pooled
    return pooled * np.float32(float(w[0].sum(dtype=np.float64)) / total)


def first_plus_logits(first: np.ndarray, later: np.ndarray, alpha: float) -> np.ndarray:
    """:func:`first_plus` on max-pooled *logits*: ``first`` of the first window, ``later``
    max-pooled over the other windows. Returns logits whose activation is
    ``max(act(first), alpha * act(later))`` (``act = log1p ∘ relu``), so the result goes through
    the encoders' usual logits → sparse step; the first window's positive logits pass as they are.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    tail = np.float32(alpha) * np.log1p(np.maximum(np.asarray(later, dtype=np.float32), np.float32(0.0)))
    return np.maximum(np.asarray(first, dtype=np.float32), weights_to_logits(tail))


def weights_to_logits(weights: np.ndarray) -> np.ndarray:
    """The logits whose activation ``log1p(relu(x))`` gives ``weights`` (``expm1``; zeros stay
    zero), so that pooled weights go through the encoders' usual logits → sparse step."""
    return np.expm1(np.asarray(weights, dtype=np.float32))
