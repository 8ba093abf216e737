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
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["lean_body"]

Body = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _fused_qkv(q: Any, k: Any, v: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The three input projections of self-attention stacked into one ``[3H, H]`` linear."""
    return torch.cat([q.weight, k.weight, v.weight]).detach(), torch.cat([q.bias, k.bias, v.bias]).detach()


def _attention(x: torch.Tensor, qkv: tuple[torch.Tensor, torch.Tensor], heads: int, mask: torch.Tensor | None) -> torch.Tensor:
    b, t, h = x.shape
    q, k, v = F.linear(x, *qkv).view(b, t, 3, heads, h // heads).permute(2, 0, 3, 1, 4).unbind(0)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out.transpose(1, 2).reshape(b, t, h)


def _key_mask(attention_mask: torch.Tensor) -> torch.Tensor | None:
    """``[B, 1, 1, T]`` boolean mask of the keys to attend to (None when nothing is padded)."""
    if bool(attention_mask.all()):
        return None
    return attention_mask.bool()[:, None, None, :]


def _layer_norm(x: torch.Tensor, ln: Any) -> torch.Tensor:
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


def _bert(body: Any) -> Body | None:
    cfg = body.config
    if getattr(cfg, "position_embedding_type", "absolute") != "absolute" or getattr(cfg, "is_decoder", False):
        return None
    emb, layers = body.embeddings, list(body.encoder.layer)
    heads = int(cfg.num_attention_heads)
    qkvs = [_fused_qkv(la.attention.self.query, la.attention.self.key, la.attention.self.value) for la in layers]

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        x = emb.word_embeddings(input_ids) + emb.position_embeddings.weight[:t] + emb.token_type_embeddings.weight[0]
        x = _layer_norm(x, emb.LayerNorm)
        mask = _key_mask(attention_mask)
        for layer, qkv in zip(layers, qkvs):
            att = layer.attention
            a = _attention(x, qkv, heads, mask)
            x = _layer_norm(F.linear(a, att.output.dense.weight, att.output.dense.bias) + x, att.output.LayerNorm)
            inner = layer.intermediate.intermediate_act_fn(F.linear(x, layer.intermediate.dense.weight, layer.intermediate.dense.bias))
            x = _layer_norm(F.linear(inner, layer.output.dense.weight, layer.output.dense.bias) + x, layer.output.LayerNorm)
        return x

    return forward


def _distilbert(body: Any) -> Body | None:
    emb, layers = body.embeddings, list(body.transformer.layer)
    heads = int(body.config.n_heads)
    qkvs = [_fused_qkv(la.attention.q_lin, la.attention.k_lin, la.attention.v_lin) for la in layers]

    def forward(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        x = _layer_norm(emb.word_embeddings(input_ids) + emb.position_embeddings.weight[:t], emb.LayerNorm)
        mask = _key_mask(attention_mask)
        for layer, qkv in zip(layers, qkvs):
            att = layer.attention
            a = _attention(x, qkv, heads, mask)
            x = _layer_norm(F.linear(a, att.out_lin.weight, att.out_lin.bias) + x, layer.sa_layer_norm)
            ffn = layer.ffn
            inner = ffn.activation(F.linear(x, ffn.lin1.weight, ffn.lin1.bias))
            x = _layer_norm(F.linear(inner, ffn.lin2.weight, ffn.lin2.bias) + x, layer.output_layer_norm)
        return x

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
