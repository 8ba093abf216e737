"""A loaded masked LM, and its max-pooled logits on any device.

:class:`MaskedLM` owns the model, its tokenizer and, for BERT and DistilBERT, the lean body
(:mod:`splade_qdrant._body`) and the pruned vocabulary projection
(:mod:`splade_qdrant._projection`). :meth:`MaskedLM.max_logits` is the one entry point of
the encoders: ``[batch, vocab]`` masked max of the MLM logits.

On the CPU a batch never splits one operation over threads (see :mod:`splade_qdrant._threads`
for why that collapses on a busy machine): it is cut into up to :func:`usable_cpus` row groups
of near-equal token counts, each run on one thread (the caller's and the shared workers'),
with torch on one thread in each. Nothing outside the calling thread's own settings changes.

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast
    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "wing"])}
    >>> tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    >>> tk.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", unk_token="[UNK]")
    >>> _ = torch.manual_seed(0)
    >>> lm = BertForMaskedLM(BertConfig(vocab_size=5, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16))
    >>> mlm = MaskedLM(lm, tok, name="tiny")
    >>> ids = torch.tensor([[2, 4, 3, 0], [2, 3, 0, 0]])
    >>> mlm.max_logits(ids, (ids != 0).long()).shape
    torch.Size([2, 5])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ._body import lean_body
from ._projection import Projection
from ._threads import CpuWorkers, single_threaded, usable_cpus
from .errors import ConfigError
from .models import ModelLocation, load_masked_lm

__all__ = ["MaskedLM", "pick_device"]

#: Tokens per padded projection chunk on accelerators ([16k, 30522] bf16 logits ≈ 1 GB).
_ACCEL_TOKEN_BUDGET = 16384
#: CPU batches with fewer real tokens than this run on the calling thread alone (a query).
_PARALLEL_TOKENS = 256


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else cuda, then mps, then cpu."""
    if device:
        try:
            return torch.device(device)
        except RuntimeError as exc:
            raise ConfigError(f"unknown device {device!r}: {exc}") from None
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")



def _split_head(model: Any) -> tuple[Any, Callable[[torch.Tensor], torch.Tensor], torch.nn.Linear] | None:
    """(body, head transform, vocabulary projection) for known masked LMs, else None."""
    if hasattr(model, "bert") and hasattr(model, "cls"):
        pred = model.cls.predictions
        return model.bert, pred.transform, pred.decoder
    if hasattr(model, "distilbert") and hasattr(model, "vocab_projector"):

        def transform(h: torch.Tensor) -> torch.Tensor:
            return model.vocab_layer_norm(model.activation(model.vocab_transform(h)))

        return model.distilbert, transform, model.vocab_projector
    return None



def _plain_backend(tokenizer: Any) -> Any:
    """A copy of a fast tokenizer's Rust backend with truncation and padding off (the
    tokenizer file may configure both), or None for other tokenizers."""
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    if backend is None:
        return None
    try:
        from tokenizers import Tokenizer

        plain = Tokenizer.from_str(backend.to_str())
    except Exception:  # noqa: BLE001 — a backend that does not round-trip: keep the wrapper
        return None
    plain.no_truncation()
    plain.no_padding()
    return plain


def _row_parts(lengths: Sequence[int], parts: int) -> list[tuple[int, int]]:
    """Cut rows into at most ``parts`` contiguous runs ``[start, stop)`` of near-equal token sums.

    Example:
        >>> _row_parts([10, 10, 5, 5], 2)
        [(0, 2), (2, 4)]
    """
    total = sum(lengths)
    out: list[tuple[int, int]] = []
    start = acc = 0
    for i, n in enumerate(lengths):
        acc += n
        if acc * parts >= total * (len(out) + 1) and i + 1 < len(lengths) and len(out) + 1 < parts:
            out.append((start, i + 1))
            start = i + 1
    out.append((start, len(lengths)))
    return out


class MaskedLM:
    """A loaded masked LM and its tokenizer, shareable by a document and a query encoder.

    Args:
        model: a transformers ``*ForMaskedLM`` module.
        tokenizer: its (fast) tokenizer.
        name: what the fingerprint records (model id, directory, or ``dir::subfolder``).
        device: where to run; default :func:`pick_device`.
        half: run in bfloat16 (float16 where bf16 is unsupported); GPU only.
    """

    def __init__(self, model: Any, tokenizer: Any, *, name: str, device: str | None = None, half: bool = False) -> None:
        self.device = pick_device(device)
        if half and self.device.type == "cpu":
            raise ConfigError("half precision needs a GPU (cuda or mps); drop --half on CPU")
        self.dtype = torch.float32
        if half:
            bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
            self.dtype = torch.bfloat16 if bf16 else torch.float16
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.tokenizer = tokenizer
        self.name = name
        self.vocab_size = int(model.config.vocab_size)
        self._parts = _split_head(self.model)
        # On CPU the body runs as direct torch calls (same math, far less Python per call).
        self._lean = lean_body(self._parts[0]) if self._parts is not None and self.device.type == "cpu" else None
        self._projection = None if self._parts is None else Projection(self._parts[2].weight, self._parts[2].bias)
        if tokenizer.pad_token_id is None:
            raise ConfigError(f"the tokenizer of {name!r} has no padding token")
        self._backend = _plain_backend(tokenizer)

    def token_ids(self, texts: Sequence[str], *, offsets: bool = False) -> tuple[list[list[int]], list[Any] | None]:
        """Token ids of each text without special tokens or truncation, and (with ``offsets``
        and a fast tokenizer) each token's ``(start, end)`` character span."""
        if self._backend is not None:  # the Rust tokenizer itself: ~half the per-call cost of the wrapper
            if len(texts) == 1:  # one text: no hand-off to the tokenizer's thread pool
                encs = [self._backend.encode(texts[0], add_special_tokens=False)]
            else:
                encs = self._backend.encode_batch(list(texts), add_special_tokens=False)
            return [e.ids for e in encs], [e.offsets for e in encs] if offsets else None
        with_offsets = offsets and bool(getattr(self.tokenizer, "is_fast", False))
        enc = self.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False, return_offsets_mapping=with_offsets)
        return enc["input_ids"], enc["offset_mapping"] if with_offsets else None

    @classmethod
    def load(cls, location: ModelLocation, *, device: str | None = None, half: bool = False) -> MaskedLM:
        """Load from a :class:`~splade_qdrant.models.ModelLocation`."""
        model, tokenizer = load_masked_lm(location)
        return cls(model, tokenizer, name=location.label, device=device, half=half)

    def max_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[batch, vocab]`` float32: max over non-padding tokens of the MLM logits.

        Every positive entry is exact; on the CPU's pruned projection an entry whose true max
        is <= 0 may hold an upper bound <= 0 instead (both activate to 0).

        On the CPU, rows are cut into up to :func:`~splade_qdrant._threads.usable_cpus` groups
        of near-equal token counts (one group below ``_PARALLEL_TOKENS`` tokens, e.g. a
        query); the calling thread runs the first and the shared workers the others, each with
        torch on one thread, so no operation waits on a thread another process has preempted.
        The calling thread's own torch settings are restored before this returns.
        """
        if self.device.type != "cpu":
            return self._max_logits(input_ids, attention_mask)
        lengths = attention_mask.sum(dim=1).tolist()
        parts = 1 if sum(lengths) < _PARALLEL_TOKENS else min(usable_cpus(), len(lengths))
        spans = _row_parts(lengths, parts) if parts > 1 else [(0, len(lengths))]
        if len(spans) == 1:
            with single_threaded():
                return self._max_logits(input_ids, attention_mask)
        workers = CpuWorkers.shared()
        futures = [workers.submit(self._rows, input_ids, attention_mask, lengths, a, b) for a, b in spans[1:]]
        try:
            with single_threaded():
                first = self._rows(input_ids, attention_mask, lengths, *spans[0])
            return torch.cat([first, *(f.result() for f in futures)])
        finally:
            for f in futures:  # on an error, do not leave work running behind the caller's back
                f.cancel() or f.exception()

    def _rows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, lengths: list[int], start: int, stop: int) -> torch.Tensor:
        """:meth:`_max_logits` of rows ``[start, stop)``, their padding columns trimmed."""
        width = max(lengths[start:stop])
        if bool(attention_mask[start:stop, width:].any()):  # not right-padded: keep every column
            width = attention_mask.shape[1]
        return self._max_logits(input_ids[start:stop, :width], attention_mask[start:stop, :width])

    @torch.inference_mode()
    def _max_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self._parts is None:  # any other masked LM: full logits, masked max
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
            logits = logits.masked_fill(~attention_mask.bool()[..., None], float("-inf"))
            return logits.amax(dim=1).float()
        body, transform, projection = self._parts
        if self._lean is not None:
            hidden = self._lean(input_ids, attention_mask)
        else:
            hidden = body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.bool()
        if self.device.type != "cpu":
            # Accelerators: padded chunks, bounded by a token budget, one masked max each.
            out = torch.empty((mask.shape[0], self.vocab_size), dtype=hidden.dtype, device=hidden.device)
            rows = max(1, _ACCEL_TOKEN_BUDGET // mask.shape[1])
            for s in range(0, mask.shape[0], rows):
                logits = projection(transform(hidden[s : s + rows]))
                out[s : s + rows] = logits.masked_fill_(~mask[s : s + rows, :, None], float("-inf")).amax(dim=1)
            return out.float()
        packed = transform(hidden[mask])
        lengths = attention_mask.sum(dim=1).tolist()
        assert self._projection is not None
        return self._projection(packed, lengths).float()

    def decode(self, indices: Sequence[int]) -> list[str]:
        """Vocabulary strings of term ids."""
        return list(self.tokenizer.convert_ids_to_tokens([int(i) for i in indices]))
