"""Certifying most vocabulary entries non-positive with one int8 GEMM.

On x86 CPUs with AVX2 or better, oneDNN's int8 GEMM reads a quarter of the float32 weight,
accumulates exactly in int32 and can write one byte per entry. :class:`Int8Bound` uses it to
find, per document, the few vocabulary entries whose max logit *may* be positive; the caller
(:class:`~splade_qdrant._projection.Projection`) computes exactly those in float32, so no
returned positive weight ever comes from int8 arithmetic.

Exact integer sums. With int8 dot-product units (AVX-512 VNNI, AMX) each ``u8 · s8`` product
goes straight into an int32 sum. Without them (AVX2: AMD Zen 1–3, Intel before Ice Lake)
oneDNN first adds pairs of products in a *saturating* 16-bit lane (``vpmaddubsw``): with full
8-bit weights, ``255 · 127 · 2`` overflows it and the sum is silently wrong (seen on an AMD
EPYC: 1,714 of 244,176 probe bytes off by up to 16). There the weights take 7 bits
(``|code| <= 63``): ``2 · 255 · 63 = 32,130 < 32,767``, so no pair can saturate. The coarser
weights only widen the measured error terms ``E_j`` below. Either way a probe at :meth:`Int8Bound.fit`
checks the kernel's bytes against float64 arithmetic and the caller falls back to the float32
bound if they differ.

The bound. With ``mu`` the mean hidden state and ``s_j = b_j + w_j·mu`` (float64), every logit
is ``h·w_j + b_j = c·w_j + s_j`` with ``c = h - mu``.

* Weights, once: each row is quantised symmetrically, ``σ_j = max_i |w_ji| / L``
  (``L = 127``, or 63 without int8 dot-product units),
  ``ŵ_j = σ_j round(w_j / σ_j)``; its error ``E_j = ||w_j - ŵ_j||`` is computed in float64
  and stored rounded up, beside ``n_j = ||w_j||``.
* Rows, per call (one scale for a row group): ``sx = (hi - lo) / 255``, a zero point ``z``,
  ``ĉ_t = sx (q_t - z)`` with ``q_t`` in ``[0, 255]``; ``C = max_t ||ĉ_t||`` and
  ``D = max_t ||c_t - ĉ_t||`` are *measured*, so clamping or an outlier dimension only
  loosens the bound, never breaks it.

Since ``c·w = ĉ·ŵ + ĉ·(w - ŵ) + (c - ĉ)·w``, Cauchy–Schwarz gives
``logit_tj <= Y_tj + A_j`` with ``Y_tj = ĉ_t·ŵ_j + s_j`` and ``A_j = C E_j + D n_j + slack``.
The GEMM computes ``Y`` (the integer sum exactly, then scaled by ``sx σ_j`` and shifted by
``s_j`` in float32) and writes the byte ``k_tj = clamp(round(Y_tj / o) + Z, 0, 255)`` with
``Z = 250`` and ``o = max_j A_j / 240``: so ``Y_tj <= (k_tj - Z + 1) o`` whatever the rounding,
a byte 0 certifies *every* entry (``-249 o + A_j < 0``), and only the entries near or above
zero get a non-zero byte. For those, the entry's max over the document's tokens is certified
non-positive when ``(max_t k_tj - Z + 1) o + A_j <= 0``. The float32 roundings (the centring
``fl(h - mu)``, ``ĉ``, the norms, ``Y``'s scaling and shift, ``s_j``) — each a few multiples
of ``2**-24`` of the same quantities — are covered by
``slack = 1e-5 (C (max_j n_j + max_j E_j) + D max_j n_j + max_j |s_j|) + 1e-30``.
Because ``E`` and ``D`` are measured rather than worst cases, this leaves fewer entries to
recompute than a bfloat16 bound (splade-tiny on Cranfield: ~1.5x the positive entries).

Example:
    >>> import torch
    >>> w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    >>> bound = Int8Bound.fit(w, torch.zeros(3), torch.tensor([[1.0, 0.5], [0.2, 1.0]]))
    >>> cands = bound.candidates(torch.tensor([[2.0, -1.0]]), [0, 1]) if bound else [[0, 1]]
    >>> [int(j) for j in cands[0]]  # terms 1 and 2 (logits -1.0) are certified non-positive
    [0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Int8Bound", "int8_is_fast", "weight_levels"]

SLACK = 1e-5  #: float32 evaluation slack (relative to the terms it covers)
_BLOCK = 2048  #: vocabulary columns per GEMM block for many rows
_FEW_ROWS = 64  #: up to this many rows (a query), one GEMM over the whole vocabulary (measured faster)
_MAX_RANGE = 1e30  #: wider centred rows (never seen in a real model) are not bounded
_SAFETY = 1 + 1e-4  #: on the float32 row norms C and D (each a few roundings off)
_ZERO = 250  #: the output bytes' zero point Z
_STEPS = 240  #: o = max_j A_j / _STEPS (< _ZERO - 1, so that a byte 0 certifies every entry)


def _dot_units() -> bool:
    """Whether this CPU has int8 dot-product units (AVX-512 VNNI or AMX): exact int32 sums of 8-bit products."""
    cpu = torch.cpu
    return any(bool(getattr(cpu, name, lambda: False)()) for name in ("_is_vnni_supported", "_is_amx_tile_supported"))


def int8_is_fast() -> bool:
    """Whether the int8 bound beats the float32 low-rank one here: int8 dot-product units, or
    an x86 CPU with AVX2 or AVX-512 (measured on an AMD EPYC with AVX2 only, 7-bit weights:
    splade-tiny documents 16% and query batches 17% faster end to end)."""
    return _dot_units() or torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def weight_levels() -> int:
    """Largest weight code: 127 with int8 dot-product units, else 63 (see the module docstring)."""
    return 127 if _dot_units() else 63


def _f32(value: float) -> float:
    """``value`` rounded to the nearest float32 (the GEMM takes its scales as float32)."""
    return float(np.float32(value))


def _quantise(c: torch.Tensor) -> tuple[torch.Tensor, float, int, float, float] | None:
    """``(q, sx, z, C, D)``: ``[N, H]`` uint8 codes of the rows ``c`` with one scale ``sx``
    and zero point ``z``, and the largest ``||ĉ_t||`` and ``||c_t - ĉ_t||`` (safety factor
    included); None when the rows are too wide (or not finite) to quantise."""
    lo, hi = min(float(c.min()), 0.0), max(float(c.max()), 0.0)
    if not hi - lo <= _MAX_RANGE:
        return None
    sx = _f32((hi - lo) / 255) if hi > lo else 1.0
    z = min(255, max(0, round(-lo / sx)))
    q = torch.round(c / sx).add_(z).clamp_(0, 255)
    approx = (q - z).mul_(sx)
    c_norm = float(torch.linalg.vector_norm(approx, dim=1).max()) * _SAFETY
    d_norm = float(torch.linalg.vector_norm(c - approx, dim=1).max()) * _SAFETY
    return q.to(torch.uint8), sx, z, c_norm, d_norm


@dataclass(frozen=True)
class Int8Bound:
    """The prepared bound of one model's projection (see the module docstring)."""

    mu: torch.Tensor  #: [H] float32 mean hidden state
    whole: tuple[tuple[int, int, torch.Tensor], ...]  #: ``(start, stop, prepacked rows)``: the [V, H] int8 rows in one part (few rows)
    blocks: tuple[tuple[int, int, torch.Tensor], ...]  #: the same in parts of <= _BLOCK rows (many rows)
    scales: torch.Tensor  #: [V] float32 σ_j
    zeros: torch.Tensor  #: [V] int64 weight zero points (all 0: symmetric)
    errors: np.ndarray  #: [V] float64 E_j, rounded up
    norms: np.ndarray  #: [V] float64 n_j, rounded up
    shifted_bias: torch.Tensor  #: [V] float32 s_j (the GEMM's bias)
    nmax: float
    emax: float
    smax: float

    @classmethod
    def fit(cls, weight: torch.Tensor, bias: torch.Tensor, sample: torch.Tensor, *, levels: int | None = None) -> Int8Bound | None:
        """Prepare from the ``[V, H]`` weight, ``[V]`` bias and ``[n, H]`` sample hidden states;
        None where this torch has no oneDNN int8 GEMM, or where it does not compute what the
        module docstring says on a probe (the caller then uses another bound).

        ``levels``: the largest weight code, at most (and by default) :func:`weight_levels`:
        more could saturate this CPU's 16-bit pair sums."""
        most = weight_levels()
        levels = most if levels is None else levels
        if not 1 <= levels <= most:
            raise ValueError(f"levels must be in [1, {most}] on this CPU, got {levels}")
        mu = sample.detach().double().mean(dim=0).float()
        w = weight.detach().double()
        scales = (w.abs().amax(dim=1) / levels).clamp_min(1e-30).float()
        codes = torch.round(w / scales.double()[:, None]).clamp_(-levels, levels)
        errors = torch.linalg.vector_norm(w - codes * scales.double()[:, None], dim=1).numpy() * (1 + 1e-9)
        norms = torch.linalg.vector_norm(w, dim=1).numpy() * (1 + 1e-9)
        codes = codes.to(torch.int8)
        shifted = (bias.detach().double() + w @ mu.double()).float()
        zeros = torch.zeros(len(codes), dtype=torch.int64)
        try:
            whole = ((0, len(codes), torch.ops.onednn.qlinear_prepack(codes, None)),)
            blocks = tuple(
                (s, min(s + _BLOCK, len(codes)), torch.ops.onednn.qlinear_prepack(codes[s : s + _BLOCK].contiguous(), None))
                for s in range(0, len(codes), _BLOCK)
            )
        except (AttributeError, RuntimeError):
            return None
        bound = cls(mu, whole, blocks, scales, zeros, errors, norms, shifted, float(norms.max()), float(errors.max()), float(shifted.abs().max()))
        return bound if bound._agrees(codes, sample.detach().float()[:8] - mu) else None

    def _gemm(self, q: torch.Tensor, sx: float, z: int, step: float, start: int, stop: int, packed: torch.Tensor) -> torch.Tensor:
        """``[N, stop - start]`` uint8 bytes ``k`` of the columns ``[start, stop)``."""
        return torch.ops.onednn.qlinear_pointwise(
            q, sx, z, packed, self.scales[start:stop], self.zeros[start:stop], self.shifted_bias[start:stop],
            step, _ZERO, None, "none", [], "",
        )

    def _agrees(self, codes: torch.Tensor, probe: torch.Tensor) -> bool:
        """Whether the GEMM's bytes are ``clamp(round(Y / o) + Z, 0, 255)`` (checked in float64
        on ``probe``, to one byte)."""
        quantised = _quantise(probe)
        if quantised is None:
            return False
        q, sx, z, _, _ = quantised
        step = _f32(max(self.smax, 1e-6) / _STEPS)
        try:
            got = self._gemm(q, sx, z, step, *self.whole[0])
        except (AttributeError, RuntimeError):
            return False
        y = ((q.double() - z) * sx) @ (codes.double() * self.scales.double()[:, None]).T + self.shifted_bias.double()
        want = torch.clamp(torch.round(y / step) + _ZERO, 0, 255)
        return got.dtype == torch.uint8 and got.shape == want.shape and bool(((got.double() - want).abs() <= 1).all())

    def candidates(self, x: torch.Tensor, offsets: Sequence[int]) -> list[np.ndarray] | None:
        """Per document, the ascending vocabulary ids the bound cannot certify non-positive.

        Args:
            x: ``[N, H]`` float32 rows of consecutive documents; document i owns rows
                ``offsets[i]:offsets[i + 1]`` (offsets relative to ``x``).

        Returns:
            None when the rows are too wide (or not finite) to quantise; the caller then
            computes those documents exactly.
        """
        quantised = _quantise(x - self.mu)
        if quantised is None:
            return None
        q, sx, z, c_norm, d_norm = quantised
        slack = SLACK * (c_norm * (self.nmax + self.emax) + d_norm * self.nmax + self.smax) + 1e-30
        step = _f32(max((c_norm * self.emax + d_norm * self.nmax + slack) / _STEPS, 1e-30))
        docs = range(len(offsets) - 1)
        top = torch.empty((len(docs), len(self.scales)), dtype=torch.uint8)
        for start, stop, packed in self.whole if len(q) <= _FEW_ROWS else self.blocks:
            k = self._gemm(q, sx, z, step, start, stop, packed)
            for i in docs:
                torch.amax(k[offsets[i] : offsets[i + 1]], dim=0, out=top[i, start:stop])
        out = []
        for row in top.numpy():
            near = np.flatnonzero(row)  # a byte 0 is certified for every entry
            bound = (row[near].astype(np.float64) - (_ZERO - 1)) * step + c_norm * self.errors[near] + d_norm * self.norms[near] + slack
            out.append(near[bound > 0])
        return out
