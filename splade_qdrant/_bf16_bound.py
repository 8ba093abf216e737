"""A bfloat16 upper bound of the max-pooled logits, with a proven error term.

On CPUs with bfloat16 matrix units (AVX-512 BF16, AMX) a bf16 GEMM runs 3–4× faster than the
float32 one. :class:`Bf16Bound` uses it to *certify* vocabulary entries non-positive; every
entry it cannot certify is recomputed exactly in float32 by the caller
(:class:`~splade_qdrant._projection.Projection`), so no returned positive weight ever comes
from bf16 arithmetic.

The bound. With ``mu`` the mean hidden state, ``n_j = ||w_j||`` and ``s_j = b_j + w_j·mu``
(both in float64), every logit is ``h·w_j + b_j = n_j (c·w̄_j) + s_j`` with ``c = h - mu`` and
the unit row ``w̄_j = w_j / n_j``. The GEMM computes ``l = bf16(c) · bf16(w̄_j)``, accumulated
in float32 and rounded to bf16. With ``u = 2**-8`` (bf16's unit roundoff):

* rounding ``c`` and ``w̄_j`` to bf16 changes each product by at most ``(2u + u²)|c_i||w̄_ji|``;
* the float32 accumulation of ``H`` products errs by at most ``gamma_H sum |c_i w̄_ji|``
  (``gamma_H = H 2**-24 / (1 - H 2**-24)``, Higham, *Accuracy and Stability of Numerical
  Algorithms*, 2nd ed., eq. 3.5; ``<= 6.2e-5`` for ``H <= 1024``);
* the final rounding to bf16 adds at most ``u |l|``;

and ``sum |c_i||w̄_ji| <= ||c||`` (Cauchy–Schwarz, ``||w̄_j|| = 1``), so
``|c·w̄_j - l| <= EPS ||c||`` with ``EPS = 4u``, which covers ``3u + 4u² + gamma_H (1 + u)²``.
Over a document's tokens ``t``: ``max_t logit_tj <= n_j (max_t l_tj + EPS max_t ||c_t||) + s_j``.
The float32 evaluation of that expression, the centring ``fl(h - mu)``, the float32 roundings
of ``n_j`` and ``s_j`` and bf16's flush of subnormals are covered by a slack
``1e-5 (max_j n_j · max_t ||c_t|| + max_j |s_j|) + 1e-30`` — each of those errors is a few
float32 roundings (``2**-24``) of the same quantities. An entry whose bound (slack included) is
``<= 0`` is certified non-positive.

Example:
    >>> import torch
    >>> w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    >>> bound = Bf16Bound.fit(w, torch.zeros(3), torch.tensor([[1.0, 0.5], [0.2, 1.0]]))
    >>> out = torch.empty(1, 3)
    >>> bound.max_bound(torch.tensor([[2.0, -1.0]]), [0, 1], out.numpy())
    True
    >>> bool(out[0, 0] >= 2.0), bool(out[0, 2] <= 0)
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["Bf16Bound", "bf16_is_fast"]

EPS = 4 * 2.0**-8  #: relative error of the bf16 product, see the module docstring
SLACK = 1e-5  #: float32 evaluation slack (relative to the terms it covers)
_BLOCK = 2048  #: vocabulary columns per GEMM block ([256 rows, 2048] bf16 = 1 MB, cache-sized)
_FEW_ROWS = 24  #: up to this many rows (a query), one GEMM over the whole vocabulary (measured faster)
_MAX_NORM = 1e30  #: larger centred rows (never seen in a real model) are not bounded


def bf16_is_fast() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AVX-512 BF16 or AMX)."""
    cpu = torch.cpu
    return any(bool(getattr(cpu, name, lambda: False)()) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


@dataclass(frozen=True)
class Bf16Bound:
    """The prepared bound of one model's projection (see the module docstring)."""

    mu: torch.Tensor  #: [H] float32 mean hidden state
    unit: torch.Tensor  #: [V, H] bf16 unit rows (one GEMM over the whole vocabulary for few rows)
    blocks: tuple[torch.Tensor, ...]  #: [H, <= _BLOCK] bf16 column blocks of the unit rows' transpose
    norms: torch.Tensor  #: [V] float32 ||w_j||
    shifted_bias: torch.Tensor  #: [V] float32 b_j + w_j·mu
    nmax: float
    smax: float

    @classmethod
    def fit(cls, weight: torch.Tensor, bias: torch.Tensor, sample: torch.Tensor) -> Bf16Bound:
        """Prepare from the ``[V, H]`` weight, ``[V]`` bias and ``[n, H]`` sample hidden states."""
        mu = sample.detach().double().mean(dim=0).float()
        w = weight.detach().double()
        norms = torch.linalg.vector_norm(w, dim=1).clamp_min(1e-30)
        unit = (w / norms[:, None]).to(torch.bfloat16)
        blocks = tuple(unit.T[:, s : s + _BLOCK].contiguous() for s in range(0, unit.shape[0], _BLOCK))
        shifted = bias.detach().double() + w @ mu.double()
        return cls(mu, unit, blocks, norms.float(), shifted.float(), float(norms.max()), float(shifted.abs().max()))

    def max_bound(self, x: torch.Tensor, offsets: Sequence[int], out: np.ndarray) -> bool:
        """Fill ``out[i]`` with an upper bound of document i's max logits (slack included).

        Args:
            x: ``[N, H]`` float32 rows of consecutive documents; document i owns rows
                ``offsets[i]:offsets[i + 1]`` (offsets relative to ``x``).
            out: ``[len(offsets) - 1, V]`` float32 array to fill.

        Returns:
            False (and ``out`` untouched) when a centred row is too large to bound; the
            caller then computes those documents exactly.
        """
        c = x - self.mu
        row_norms = torch.linalg.vector_norm(c, dim=1)
        if float(row_norms.max()) > _MAX_NORM:
            return False
        cb = c.to(torch.bfloat16)
        target = torch.from_numpy(out)
        docs = range(len(offsets) - 1)
        if len(cb) <= _FEW_ROWS:  # a query: one GEMM over the whole vocabulary is faster than blocks
            logits = F.linear(cb, self.unit)
            for i in docs:
                target[i] = logits[offsets[i] : offsets[i + 1]].amax(dim=0)
        else:
            col = 0
            for block in self.blocks:
                logits = cb @ block
                width = block.shape[1]
                for i in docs:
                    target[i, col : col + width] = logits[offsets[i] : offsets[i + 1]].amax(dim=0)
                col += width
        cmax = torch.stack([row_norms[offsets[i] : offsets[i + 1]].max() for i in docs]) * (1 + 1e-4)
        slack = SLACK * (self.nmax * cmax + self.smax) + 1e-30
        target.add_((EPS * cmax)[:, None]).mul_(self.norms).add_(self.shifted_bias).add_(slack[:, None])
        return True
