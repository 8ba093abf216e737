"""The max-pooled vocabulary projection, SPLADE's hot loop.

For each document, ``out[j] = max_t (hidden[t] · weight[j]) + bias[j]`` over its packed
non-padding token rows — the masked max of the MLM logits, never materialising the
``[batch, tokens, vocab]`` tensor. (The bias is added after the max: float addition is
monotone, so ``max_t fl(x_t + b) = fl(max_t x_t + b)`` exactly.)

Only the positive entries matter (callers apply ``log1p(relu(.))``), and ~99% of them are
negative. On CPU, :class:`Projection` therefore *certifies* most entries non-positive
cheaply and computes the rest exactly. Two bounds do the certifying:

* on x86 CPUs with AVX2 or better, an **int8 GEMM over the centred hidden states with
  measured error terms** (:mod:`splade_qdrant._int8_bound`): it reads a quarter of the float32
  weight and leaves ~1.1% of the entries to recompute (splade-tiny on Cranfield with 8-bit
  weights on int8 dot-product units, of which 0.7% are positive; 7-bit weights elsewhere);
* elsewhere, the float32 **low-rank (PCA) bound** below, ~4% left to recompute.

The low-rank bound:

1. A basis is fitted once (lazily, on the first ``2 H`` token rows seen, one batch or several
   small ones such as single queries): the mean ``mu`` and the principal axes ``P`` of the
   hidden states. In that basis ``h·w = mu·w + hr·wr`` and, with
   the top ``k`` axes kept and the other ones cut into ``g`` groups ``G``, Cauchy–Schwarz gives
   ``h·w + b <= (mu·w + b) + hr[:k]·wr[:k] + sum_G ||hr[G]||·||wr[G]||`` — one GEMM with inner
   size ``k + g`` (88 instead of 128 for BERT-tiny) instead of ``H``.
2. A (document, term) pair whose bound, max-pooled over the document, is below ``-margin``
   (an allowance for float32 rounding, derived in :meth:`Projection._bound_rows`) is
   non-positive and keeps its bound (<= 0).
3. Every other pair (~4% of them) is recomputed exactly in float32 from ``hidden``,
   ``weight`` and ``bias`` — the returned positive values never come from the bound (the
   same holds for the int8 bound).

Products run in torch's BLAS on NumPy views (one thread per caller, see
:mod:`splade_qdrant._threads`), on row groups of <= 256 tokens and vocabulary blocks that stay in cache.
Hidden sizes under 64, small first batches and non-finite inputs use the plain exact product
(which returns every entry exactly). This is the CPU float32 path only: accelerators take
:class:`~splade_qdrant._masked_lm.MaskedLM`'s padded loop (one implementation each).

Example:
    >>> import torch
    >>> h = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]])
    >>> max_pooled_logits(h, [2, 1], w, torch.zeros(3)).tolist()
    [[1.0, 2.0, -1.0], [1.0, 2.0, -2.0]]
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Literal, NamedTuple

import numpy as np
import torch

from ._int8_bound import Int8Bound, int8_is_fast

__all__ = ["Projection", "max_pooled_logits"]

_DENSE_BLOCK = 1024  #: vocabulary columns per exact block: [256 rows, 1024] float32 = 1 MB
_BOUND_BLOCK = 2048  #: vocabulary columns per bound block
_GROUP_ROWS = 256  #: token rows per GEMM (consecutive short documents share one)
_GROUPS = 8  #: Cauchy–Schwarz groups of the residual axes
_MIN_HIDDEN = 64  #: smaller hidden sizes skip the bound
_FULL_WIDTH_ROWS = 32  #: row groups up to this size bound the whole vocabulary in one GEMM


class _Basis(NamedTuple):
    """The fitted bound: ``h·w + b <= shifted_bias + xb(h)·wb`` (see the module docstring)."""

    mu: np.ndarray  #: [H] mean hidden state
    axes: np.ndarray  #: [H, H] principal axes, descending variance
    starts: np.ndarray  #: first axis of each Cauchy–Schwarz group (after the k exact ones)
    wb: np.ndarray  #: [k + g, V] rotated weight (k axes) and group norms
    shifted_bias: np.ndarray  #: [V] b + W·mu
    wmax: float  #: largest weight row norm


def _group_starts(n: int) -> np.ndarray:
    """Start offsets of ``_GROUPS`` contiguous, near-equal groups of ``n`` axes."""
    group = np.arange(n) * _GROUPS // n
    return np.flatnonzero(np.r_[True, group[1:] != group[:-1]])


def _group_norms(rest: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean norm of each group of columns of ``rest`` (groups begin at ``starts``)."""
    return np.sqrt(np.add.reduceat(rest * rest, starts, axis=1))


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in torch's BLAS (MKL on x86), which follows the calling thread's thread count
    (:func:`splade_qdrant._threads.single_threaded`); NumPy's OpenBLAS has one process-wide
    pool whose threads would spin beside torch's."""
    return torch.mm(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def _exact_at(rows: np.ndarray, cand: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out[cand]`` = the exact max over ``rows`` of those terms' logits (``rows @ w.T + b``)."""
    if len(cand):
        out[cand] = _mm(rows, w[cand].T).max(axis=0) + b[cand]


def _row_groups(offsets: np.ndarray) -> Iterator[tuple[int, int]]:
    """Runs of consecutive documents ``[d, e)`` with at most ``_GROUP_ROWS`` rows (or one doc)."""
    d, n = 0, len(offsets) - 1
    while d < n:
        e = d + 1
        while e < n and offsets[e + 1] - offsets[d] <= _GROUP_ROWS:
            e += 1
        yield d, e
        d = e


class Projection:
    """The vocabulary projection of one model, prepared once and reused across batches.

    Args:
        weight: ``[V, H]`` decoder weight; bias: ``[V]`` (or None).
        prune: certify non-positive entries with a bound (CPU float32, H >= 64).
        basis_dims: the PCA bound's principal axes kept exactly (default ``5/8`` of H).
        bound: ``"int8"``, ``"pca"`` or ``"auto"`` (int8 where it is the faster one, see
            :func:`~splade_qdrant._int8_bound.int8_is_fast`). Where torch has no oneDNN int8
            GEMM, or it fails the fit's probe, ``"int8"`` falls back to ``"pca"``.

    The basis is fitted once ``2 H`` token rows have been seen on CPU (over one or several
    calls; until then the exact product runs), or explicitly with :meth:`fit_basis`. Results
    are exact for every positive entry whatever the basis; its quality only changes the speed.

    Example:
        >>> import torch
        >>> proj = Projection(torch.eye(2), None)
        >>> proj(torch.tensor([[3.0, -1.0], [0.5, 2.0]]), [2]).tolist()
        [[3.0, 2.0]]
    """

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        *,
        prune: bool = True,
        basis_dims: int | None = None,
        bound: Literal["auto", "int8", "pca"] = "auto",
    ) -> None:
        self.weight = weight.detach()
        self.bias = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device) if bias is None else bias.detach()
        hidden_size = int(weight.shape[1])
        self.prune = prune and hidden_size >= _MIN_HIDDEN
        self.k = min(hidden_size - _GROUPS, basis_dims if basis_dims is not None else (5 * hidden_size) // 8)
        self._w: np.ndarray | None = None  # [V, H] float32
        self._b: np.ndarray | None = None
        self._dense: list[np.ndarray] = []  # [H, block] column blocks of weight.T
        self._basis: _Basis | None = None
        self._int8: Int8Bound | None = None
        self.bound = ("int8" if int8_is_fast() else "pca") if bound == "auto" else bound
        self._lock = threading.Lock()  # the lazy caches are built once, even under concurrent callers
        self._sample: list[torch.Tensor] = []  # hidden rows kept until there are enough to fit the basis
        self._sample_rows = 0

    def _cpu_weights(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._b is None:
                w = np.ascontiguousarray(self.weight.float().cpu().numpy())
                wt = w.T
                self._dense = [np.ascontiguousarray(wt[:, s : s + _DENSE_BLOCK]) for s in range(0, wt.shape[1], _DENSE_BLOCK)]
                self._w = w
                self._b = np.ascontiguousarray(self.bias.float().cpu().numpy())  # set last: marks the cache ready
            assert self._w is not None and self._b is not None
            return self._w, self._b

    @property
    def fitted(self) -> bool:
        """Whether the bound is ready (the certified path runs)."""
        return self._basis is not None or self._int8 is not None

    def fit_basis(self, sample: torch.Tensor) -> None:
        """Fit the bound on ``[n, H]`` transformed hidden states: the int8 bound's mean, or the
        PCA bound's mean and principal axes."""
        w, b = self._cpu_weights()
        if self.bound == "int8":
            self._int8 = Int8Bound.fit(torch.from_numpy(w), torch.from_numpy(b), sample)
            if self._int8 is not None:
                return
            self.bound = "pca"  # this torch has no oneDNN int8 GEMM
        x = sample.detach().to("cpu", torch.float64)
        mu = x.mean(dim=0)
        _, axes = torch.linalg.eigh((x - mu).T @ (x - mu))
        axes = axes.flip(1)  # descending variance
        wr = torch.from_numpy(w).double() @ axes  # [V, H]
        rest = wr[:, self.k :]
        starts = _group_starts(rest.shape[1])
        norms = torch.from_numpy(_group_norms(rest.numpy(), starts))
        wb = np.ascontiguousarray(torch.cat([wr[:, : self.k], norms], dim=1).float().numpy().T)  # [k + g, V]
        shifted_bias = (torch.from_numpy(b).double() + torch.from_numpy(w).double() @ mu).float().numpy()
        wmax = float(np.linalg.norm(w, axis=1).max())
        self._basis = _Basis(mu.float().numpy(), np.ascontiguousarray(axes.float().numpy()), starts, wb, shifted_bias, wmax)

    def _bound_rows(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        """``[N, k + g]`` bound coordinates of the rows and their float32 rounding margin."""
        basis = self._basis
        assert basis is not None
        centred = x - basis.mu
        hr = _mm(centred, basis.axes)
        rest = hr[:, self.k :]
        norms = _group_norms(rest, basis.starts)
        xb = np.concatenate([hr[:, : self.k], norms], axis=1)
        # Rounding allowance. A float32 dot product of length n errs by at most
        # gamma_n * |x| * |y|, gamma_n = n u / (1 - n u), u = 2**-24 (Higham, "Accuracy and
        # Stability of Numerical Algorithms", 2nd ed., eq. 3.5); for n <= 1024 that is <= 6.2e-5.
        # The bound chains three such steps (the rotation, the group norms, the bound GEMM),
        # each bounded in terms of |centred row| * |weight row| <= cmax * wmax, so their error is
        # <= 3 * 6.2e-5 * cmax * wmax; 1e-3 leaves a 5x safety factor. shifted_bias is
        # accumulated in float64 and rounded once (<= u |b|), covered by the second term.
        # Hidden sizes over 1024 would need a larger factor (none of the supported models has one).
        cmax = float(np.sqrt((centred * centred).sum(axis=1).max()))
        margin = 1e-3 * cmax * basis.wmax + 1e-4 * (1.0 + float(np.abs(basis.shifted_bias).max()))
        return xb, margin

    def _collect(self, hidden: torch.Tensor) -> None:
        """Keep (finite) hidden rows until ``2 H`` are seen, then fit the basis on them."""
        need = 2 * hidden.shape[1]
        with self._lock:
            if self.fitted:
                return
            self._sample.append(hidden.clone())
            self._sample_rows += hidden.shape[0]
            if self._sample_rows < need:
                return
            sample = torch.cat(self._sample)
            self._sample, self._sample_rows = [], 0
        self.fit_basis(sample)  # concurrent callers may both fit; either basis is valid

    def _dense_cpu(self, x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        w, _ = self._cpu_weights()
        out = np.empty((len(offsets) - 1, w.shape[0]), dtype=np.float32)
        for d, e in _row_groups(offsets):
            self._exact_group(x, offsets, d, e, out)
        return out

    def _exact_group(self, x: np.ndarray, offsets: np.ndarray, d: int, e: int, out: np.ndarray) -> None:
        """Every entry of documents ``[d, e)``, exactly."""
        rows, base = x[offsets[d] : offsets[e]], offsets[d]
        col = 0
        for block in self._dense:
            width = block.shape[1]
            logits = _mm(rows, block)
            for i in range(d, e):
                np.max(logits[offsets[i] - base : offsets[i + 1] - base], axis=0, out=out[i, col : col + width])
            col += width
        assert self._b is not None
        out[d:e] += self._b

    def _int8_cpu(self, x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The int8-certified path (:mod:`splade_qdrant._int8_bound`): the entries the bound
        cannot certify exactly, 0 (an upper bound of a non-positive max) elsewhere."""
        w, b = self._cpu_weights()
        bound = self._int8
        assert bound is not None
        out = np.zeros((len(offsets) - 1, w.shape[0]), dtype=np.float32)
        rows = torch.from_numpy(x)
        for d, e in _row_groups(offsets):
            base = offsets[d]
            cands = bound.candidates(rows[base : offsets[e]], offsets[d : e + 1] - base)
            if cands is None:
                self._exact_group(x, offsets, d, e, out)
                continue
            for i, cand in zip(range(d, e), cands):
                _exact_at(x[offsets[i] : offsets[i + 1]], cand, w, b, out[i])
        return out

    def _pruned_cpu(self, x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        w, b = self._cpu_weights()
        basis = self._basis
        assert basis is not None
        xb, margin_f = self._bound_rows(x)
        margin = np.float32(margin_f)
        vocab = w.shape[0]
        out = np.empty((len(offsets) - 1, vocab), dtype=np.float32)
        for d, e in _row_groups(offsets):
            base = offsets[d]
            rows_b = xb[base : offsets[e]]
            # few rows (a query batch): one GEMM over the whole vocabulary; many: cache-sized blocks
            width = vocab if len(rows_b) <= _FULL_WIDTH_ROWS else _BOUND_BLOCK
            for col in range(0, vocab, width):
                stop = min(col + width, vocab)
                bound = _mm(rows_b, basis.wb[:, col:stop])
                for i in range(d, e):
                    np.max(bound[offsets[i] - base : offsets[i + 1] - base], axis=0, out=out[i, col:stop])
            out[d:e] += basis.shifted_bias
            for i in range(d, e):  # the entries the bound leaves over -margin, exactly
                _exact_at(x[offsets[i] : offsets[i + 1]], np.flatnonzero(out[i] > -margin), w, b, out[i])
        return out

    def __call__(self, hidden: torch.Tensor, lengths: Sequence[int]) -> torch.Tensor:
        """Per document, the max over its packed rows of ``hidden @ weight.T + bias``.

        Args:
            hidden: ``[N, H]`` transformed hidden states of B documents' non-padding tokens,
                back to back (document i owns ``lengths[i]`` consecutive rows).
            lengths: tokens per document (each >= 1, summing to N).

        Returns:
            ``[B, V]`` tensor on ``hidden``'s device (float32 on CPU). Positive entries are
            exact; an entry whose true max is <= 0 may instead hold an upper bound <= 0.
        """
        if any(int(n) < 1 for n in lengths):
            raise ValueError("every document needs at least one token")
        if hidden.device.type != "cpu" or hidden.dtype != torch.float32 or self.weight.dtype != torch.float32:
            raise ValueError(
                f"Projection is the CPU float32 path (got {hidden.dtype} on {hidden.device.type}, weight {self.weight.dtype});"
                " accelerators use MaskedLM's padded projection"
            )
        hidden = hidden.detach().contiguous()
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([int(n) for n in lengths])
        if offsets[-1] != hidden.shape[0]:
            raise ValueError(f"lengths sum to {offsets[-1]}, hidden has {hidden.shape[0]} rows")
        x = hidden.numpy()
        if not self.fitted:
            finite = bool(torch.isfinite(hidden).all())
            if self.prune and finite:
                self._collect(hidden)
            if not self.fitted or not finite:
                return torch.from_numpy(self._dense_cpu(x, offsets))
        if self._int8 is not None:  # it checks finiteness itself, per row group
            return torch.from_numpy(self._int8_cpu(x, offsets))
        if not bool(torch.isfinite(hidden).all()):
            return torch.from_numpy(self._dense_cpu(x, offsets))
        return torch.from_numpy(self._pruned_cpu(x, offsets))


def max_pooled_logits(hidden: torch.Tensor, lengths: Sequence[int], weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """One-off form of :class:`Projection` (prepares the weight and basis on every call)."""
    return Projection(weight, bias)(hidden, lengths)
