"""A lean forward pass of BERT and DistilBERT encoder bodies, for CPU inference.

transformers' modules spend more time in Python (output capture, mask building, hooks) than in
arithmetic when the model is small and the batch is one query: BERT-tiny's two layers cost
~2 ms through ``BertModel.forward`` and ~0.3 ms as the same torch operations called directly.
:func:`lean_body` returns such a direct forward over the model's own parameters — embeddings,
then per layer: self-attention (one stacked Q/K/V projection, ``scaled_dot_product_attention``
with padded keys masked), output projection, residual + LayerNorm, feed-forward with the
model's own activation, residual + LayerNorm — or None for any other architecture or configuration, where the caller
keeps using the transformers module. The result equals ``body(...).last_hidden_state`` on
every non-padding position up to float rounding (tests check 1e-5).

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertModel
    >>> _ = torch.manual_seed(0)
    >>> body = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)).eval()
    >>> fast = lean_body(body)
    >>> ids, mask = torch.tensor([[2, 7, 9, 3, 0]]), torch.tensor([[1, 1, 1, 1, 0]])
    >>> ref = body(input_ids=ids, attention_mask=mask).last_hidden_state
    >>> bool(torch.allclose(fast(ids, mask)[:, :4], ref[:, :4], atol=1e-5))
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["lean_body"]

Body = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _fused_qkv(q: Any, k: Any, v: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The three input projections of self-attention stacked into one ``[3H, H]`` linear."""
    return torch.cat([q.weight, k.weight, v.weight]).detach(), torch.cat([q.bias, k.bias, v.bias]).detach()


def _linear(m: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    return m.weight, m.bias


def _norm(ln: Any) -> tuple[Any, torch.Tensor, torch.Tensor, float]:
    return ln.normalized_shape, ln.weight, ln.bias, ln.eps


class _Layer(NamedTuple):
    """One transformer layer's parameters, read out of its modules once (attribute lookups
    through ``nn.Module`` cost more than BERT-tiny's arithmetic on one query)."""

    qkv: tuple[torch.Tensor, torch.Tensor]
    out: tuple[torch.Tensor, torch.Tensor | None]
    norm1: tuple[Any, torch.Tensor, torch.Tensor, float]
    inner: tuple[torch.Tensor, torch.Tensor | None]
    act: Callable[[torch.Tensor], torch.Tensor]
    ffn_out: tuple[torch.Tensor, torch.Tensor | None]
    norm2: tuple[Any, torch.Tensor, torch.Tensor, float]


def _run_layers(x: torch.Tensor, attention_mask: torch.Tensor, layers: list[_Layer], heads: int) -> torch.Tensor:
    """Post-norm transformer layers (BERT and DistilBERT share the shape)."""
    mask = _key_mask(attention_mask)
    b, t, h = x.shape
    for la in layers:
        q, k, v = F.linear(x, *la.qkv).view(b, t, 3, heads, h // heads).permute(2, 0, 3, 1, 4).unbind(0)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, t, h)
        x = F.layer_norm(F.linear(a, *la.out) + x, *la.norm1)
        x = F.layer_norm(F.linear(la.act(F.linear(x, *la.inner)), *la.ffn_out) + x, *la.norm2)
    return x


def _key_mask(attention_mask: torch.Tensor) -> torch.Tensor | None:
    """``[B, 1, 1, T]`` boolean mask of the keys to attend to (None when nothing is padded)."""
    if bool(attention_mask.all()):
        return None
    return attention_mask.bool()[:, None, None, :]


def _bert(body: Any) -> Body | None:
    cfg = body.config
    if getattr(cfg, "position_embedding_type", "absolute") != "absolute" or getattr(cfg, "is_decoder", False):
        return None
    emb, heads = body.embeddings, int(cfg.num_attention_heads)
    layers = [
        _Layer(
            _fused_qkv(la.attention.self.query, la.attention.self.key, la.attention.self.value),
            _linear(la.attention.output.dense), _norm(la.attention.output.LayerNorm),
            _linear(la.intermediate.dense), la.intermediate.intermediate_act_fn,
            _linear(la.output.dense), _norm(la.output.LayerNorm),
        )
        for la in body.encoder.layer
    ]
    words, positions = emb.word_embeddings.weight, emb.position_embeddings.weight
    token_type, norm = emb.token_type_embeddings.weight[0], _norm(emb.LayerNorm)

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(F.embedding(input_ids, words) + positions[: input_ids.shape[1]] + token_type, *norm)
        return _run_layers(x, attention_mask, layers, heads)

    return forward


def _distilbert(body: Any) -> Body | None:
    emb, heads = body.embeddings, int(body.config.n_heads)
    layers = [
        _Layer(
            _fused_qkv(la.attention.q_lin, la.attention.k_lin, la.attention.v_lin),
            _linear(la.attention.out_lin), _norm(la.sa_layer_norm),
            _linear(la.ffn.lin1), la.ffn.activation, _linear(la.ffn.lin2), _norm(la.output_layer_norm),
        )
        for la in body.transformer.layer
    ]
    words, positions, norm = emb.word_embeddings.weight, emb.position_embeddings.weight, _norm(emb.LayerNorm)

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(F.embedding(input_ids, words) + positions[: input_ids.shape[1]], *norm)
        return _run_layers(x, attention_mask, layers, heads)

    return forward


def lean_body(body: Any) -> Body | None:
    """A direct forward ``(input_ids, attention_mask) -> [B, T, H]`` hidden states for a
    transformers ``BertModel`` or ``DistilBertModel`` in eval mode, else None.

    The stacked Q/K/V weights are copied once here: build it after moving the model to its
    device and dtype (later in-place weight changes do not reach the copy)."""
    name = type(body).__name__
    if body.training:
        return None
    try:
        if name == "BertModel":
            return _bert(body)
        if name == "DistilBertModel":
            return _distilbert(body)
    except AttributeError:  # a variant with other module names: keep the transformers forward
        return None
    return None
