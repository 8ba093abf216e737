"""Max-pooled vocabulary projection (baseline: chunked over packed tokens)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

_CHUNK_TOKENS = 1024


def max_pooled_logits(hidden: torch.Tensor, lengths: Sequence[int], weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``[B, V]``: per document, the max over its packed token rows of ``hidden @ weight.T + bias``."""
    out = torch.empty((len(lengths), weight.shape[0]), dtype=hidden.dtype, device=hidden.device)
    doc = 0
    start = 0
    offsets = [0]
    for n in lengths:
        offsets.append(offsets[-1] + int(n))
    while doc < len(lengths):
        end_doc = doc
        while end_doc < len(lengths) and offsets[end_doc + 1] - offsets[doc] <= _CHUNK_TOKENS:
            end_doc += 1
        end_doc = max(end_doc, doc + 1)
        logits = F.linear(hidden[offsets[doc] : offsets[end_doc]], weight, bias)
        for d in range(doc, end_doc):
            out[d] = logits[offsets[d] - offsets[doc] : offsets[d + 1] - offsets[doc]].amax(dim=0)
        doc = end_doc
    return out
