"""Sparse vectors and the pure array math around them (no torch, no database client).

SPLADE weights are ``w_j = max_t log(1 + relu(logit[t, j]))`` over a text's non-padding
tokens. Because ``log1p ∘ relu`` is monotone, that equals ``log1p(relu(max_t logit[t, j]))``:
the encoders reduce the logits first (see :mod:`splade_qdrant.encoder`) and call
:func:`logits_to_sparse` on the ``[batch, vocab]`` result (the same as :func:`activate`, then
:func:`rows_to_sparse`, with the logarithm taken of the ~1% positive entries only).

Example:
    >>> import numpy as np
    >>> v = SparseVector.from_dict({7: 0.5, 2: 1.25})
    >>> v.indices.tolist(), v.values.tolist()
    ([2, 7], [1.25, 0.5])
    >>> v.dot(SparseVector.from_dict({2: 2.0, 9: 1.0}))
    2.5
    >>> rows = activate(np.array([[-1.0, 0.0, np.e - 1.0]], dtype=np.float32))
    >>> rows_to_sparse(rows)[0].as_dict()
    {2: 1.0}
    >>> logits_to_sparse(np.array([[-1.0, 0.0, np.e - 1.0]], dtype=np.float32))[0].as_dict()
    {2: 1.0}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "SparseVector",
    "activate",
    "logits_to_sparse",
    "prune_rows",
    "rows_to_sparse",
]

INDEX_DTYPE = np.int32
VALUE_DTYPE = np.float32


@dataclass(frozen=True, eq=False)
class SparseVector:
    """An immutable sparse vector: sorted unique ``int32`` indices, non-zero ``float32`` values.

    Construct it with :meth:`from_dict`, :meth:`from_arrays` or :meth:`from_dense`; the
    constructor itself checks the invariants and raises ``ValueError`` when they fail.
    """

    indices: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        idx, val = self.indices, self.values
        if idx.ndim != 1 or val.ndim != 1 or idx.shape != val.shape:
            raise ValueError(
                f"indices and values must be 1-D of equal length, got {idx.shape} and {val.shape}"
            )
        if idx.dtype != INDEX_DTYPE or val.dtype != VALUE_DTYPE:
            raise ValueError(f"expected int32 indices and float32 values, got {idx.dtype}, {val.dtype}")
        if idx.size:
            if idx[0] < 0 or (idx.size > 1 and not np.all(idx[1:] > idx[:-1])):
                raise ValueError("indices must be non-negative, sorted and unique")
            if not np.all(np.isfinite(val)) or np.any(val == 0):
                raise ValueError("values must be finite and non-zero")

    @classmethod
    def from_arrays(cls, indices: Sequence[int] | np.ndarray, values: Sequence[float] | np.ndarray) -> SparseVector:
        """Build from parallel index/value sequences in any order; zeros are dropped.

        Duplicate indices raise ``ValueError``.
        """
        idx = np.asarray(indices, dtype=np.int64)
        val = np.asarray(values, dtype=VALUE_DTYPE)
        if idx.shape != val.shape or idx.ndim != 1:
            raise ValueError(f"indices and values must be 1-D of equal length, got {idx.shape} and {val.shape}")
        if idx.size and (idx.min() < 0 or idx.max() > np.iinfo(INDEX_DTYPE).max):
            raise ValueError("indices must lie in [0, 2**31)")
        keep = val != 0
        idx, val = idx[keep], val[keep]
        order = np.argsort(idx, kind="stable")
        idx, val = idx[order], val[order]
        if idx.size > 1 and np.any(idx[1:] == idx[:-1]):
            raise ValueError("duplicate indices in sparse vector")
        return cls(idx.astype(INDEX_DTYPE), np.ascontiguousarray(val))

    @classmethod
    def from_dict(cls, weights: Mapping[int, float]) -> SparseVector:
        """Build from ``{index: weight}``; zero weights are dropped."""
        return cls.from_arrays(list(weights.keys()), list(weights.values()))

    @classmethod
    def from_dense(cls, row: np.ndarray) -> SparseVector:
        """Build from a dense 1-D array, keeping its non-zero entries."""
        row = np.asarray(row, dtype=VALUE_DTYPE)
        nz = np.flatnonzero(row)
        return cls(nz.astype(INDEX_DTYPE), row[nz])

    @classmethod
    def empty(cls) -> SparseVector:
        """The vector with no non-zero entry."""
        return cls(np.zeros(0, INDEX_DTYPE), np.zeros(0, VALUE_DTYPE))

    def __len__(self) -> int:
        return int(self.indices.size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseVector):
            return NotImplemented
        return np.array_equal(self.indices, other.indices) and np.array_equal(self.values, other.values)

    def __hash__(self) -> int:
        return hash((self.indices.tobytes(), self.values.tobytes()))

    def __repr__(self) -> str:
        return f"SparseVector(nnz={len(self)})"

    def as_dict(self) -> dict[int, float]:
        """``{index: weight}`` with Python ints and floats."""
        return dict(zip(self.indices.tolist(), self.values.tolist()))

    def to_dense(self, dim: int) -> np.ndarray:
        """A dense ``float32`` array of length ``dim``."""
        out = np.zeros(dim, dtype=VALUE_DTYPE)
        out[self.indices] = self.values
        return out

    def dot(self, other: SparseVector) -> float:
        """Dot product, accumulated in float64 over the shared indices."""
        _, ia, ib = np.intersect1d(self.indices, other.indices, assume_unique=True, return_indices=True)
        return float(np.dot(self.values[ia].astype(np.float64), other.values[ib].astype(np.float64)))


def activate(max_logits: np.ndarray) -> np.ndarray:
    """SPLADE activation ``log(1 + relu(x))``, element-wise, as float32.

    Applied to logits already max-pooled over tokens, this gives the SPLADE weights.
    """
    x = np.asarray(max_logits, dtype=VALUE_DTYPE)
    return np.log1p(np.maximum(x, 0, dtype=VALUE_DTYPE))


def prune_rows(weights: np.ndarray, *, top_k: int | None = None, threshold: float | None = None) -> np.ndarray:
    """Prune a ``[batch, vocab]`` weight matrix row by row; returns a new array.

    Args:
        weights: non-negative SPLADE weights, one row per text.
        top_k: keep at most this many largest weights per row (ties keep the lower index).
        threshold: zero every weight strictly below this value.

    >>> prune_rows(np.array([[0.1, 0.9, 0.5, 0.9]], dtype=np.float32), top_k=2).tolist()
    [[0.0, 0.8999999761581421, 0.0, 0.8999999761581421]]
    >>> prune_rows(np.array([[0.1, 0.9, 0.5]], dtype=np.float32), threshold=0.4).tolist()
    [[0.0, 0.8999999761581421, 0.5]]
    """
    out = np.array(weights, dtype=VALUE_DTYPE, copy=True)
    if threshold is not None:
        out[out < threshold] = 0
    if top_k is not None:
        if top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {top_k}")
        vocab = out.shape[1]
        if top_k == 0:
            out[:] = 0
        elif top_k < vocab:
            # The k-th largest weight by partition (bm25s' top-k idea), no full sort: keep what
            # is above it, then the lowest-index entries equal to it until k are kept.
            kth = -np.partition(-out, top_k - 1, axis=1)[:, top_k - 1 : top_k]
            keep = out > kth
            tied = out == kth
            keep |= tied & (np.cumsum(tied, axis=1) <= top_k - keep.sum(axis=1, keepdims=True))
            out[~keep] = 0
    return out


def rows_to_sparse(weights: np.ndarray) -> list[SparseVector]:
    """Convert each row of a ``[batch, vocab]`` array to a :class:`SparseVector` (non-zeros only)."""
    w = np.asarray(weights, dtype=VALUE_DTYPE)
    if w.ndim != 2:
        raise ValueError(f"expected a 2-D [batch, vocab] array, got shape {w.shape}")
    flat = np.flatnonzero(w)
    return _split_rows(w.shape, flat, w.reshape(-1)[flat])


def logits_to_sparse(max_logits: np.ndarray) -> list[SparseVector]:
    """``rows_to_sparse(activate(max_logits))``, computing the logarithm of the positive
    entries only (the same float32 values; ~30x less work on SPLADE's ~1% dense rows)."""
    x = np.asarray(max_logits, dtype=VALUE_DTYPE)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D [batch, vocab] array, got shape {x.shape}")
    flat = np.flatnonzero(x > 0)  # 1-D nonzero: ~10x faster than np.nonzero on wide rows
    vals = np.log1p(x.reshape(-1)[flat])
    keep = vals != 0  # log1p(x) > 0 for x > 0, unless flush-to-zero turns a denormal result into 0
    if not keep.all():
        flat, vals = flat[keep], vals[keep]
    return _split_rows(x.shape, flat, vals)


def _split_rows(shape: tuple[int, ...], flat: np.ndarray, vals: np.ndarray) -> list[SparseVector]:
    """One :class:`SparseVector` per row of a ``shape`` array from its ascending flat
    indices ``flat`` and their values."""
    n_rows, width = shape
    bounds = np.searchsorted(flat, np.arange(n_rows + 1) * width)
    cols = (flat - np.repeat(np.arange(n_rows) * width, np.diff(bounds))).astype(INDEX_DTYPE)
    return [SparseVector(cols[bounds[i] : bounds[i + 1]], vals[bounds[i] : bounds[i + 1]]) for i in range(n_rows)]
