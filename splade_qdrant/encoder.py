"""SPLADE encoders: text → :class:`~splade_qdrant.sparse.SparseVector`.

The weight of vocabulary term ``j`` is ``max_t log(1 + relu(logit[t, j]))`` over the text's
non-padding tokens ([CLS] and [SEP] included). We compute it as the activation of the
*masked max of the logits* — identical, because the activation is monotone — and for BERT
and DistilBERT masked LMs we never materialise the ``[batch, tokens, vocab]`` logits: the
head's transform runs on the packed non-padding tokens and the vocabulary projection is
reduced chunk by chunk (:mod:`splade_qdrant._projection`).

Inputs are tokenised once, sorted by length, batched, and restored to input order. Texts
longer than the model's window are never cut silently: they are split into overlapping
windows, each encoded with the exact SPLADE weights above. By default
(``long_docs="first-plus"``) the first window's vector is kept as it is and the later windows'
terms are added at ``LONG_DOCS_TAIL_WEIGHT`` of their weight (:func:`~splade_qdrant.pooling.first_plus`);
``"window"`` max-pools all windows into one vector (which inflates long documents: more terms,
each at its highest weight); ``"chunk"`` keeps one vector per window
(:meth:`SpladeEncoder.encode_chunks`, one point per window at ingestion); ``"truncate"`` keeps
the first window only (what the published SPLADE evaluations do). The README's long-document
table compares them on real collections.

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast
    >>> from tokenizers import Tokenizer, models, pre_tokenizers, processors
    >>> vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "wing", "flow"])}
    >>> tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    >>> tk.pre_tokenizer = pre_tokenizers.Whitespace()
    >>> tk.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    >>> tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", unk_token="[UNK]")
    >>> _ = torch.manual_seed(0)
    >>> lm = BertForMaskedLM(BertConfig(vocab_size=6, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16))
    >>> enc = SpladeEncoder(MaskedLM(lm, tok, name="tiny"), max_length=16)
    >>> vecs = enc.encode(["wing flow", "flow"])
    >>> len(vecs), all(v.values.dtype.name == "float32" for v in vecs)
    (2, True)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import pooling
from ._masked_lm import MaskedLM, pick_device
from .config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DOC_MAX_LENGTH,
    DEFAULT_LONG_DOCS,
    LONG_DOCS_MODES,
    LONG_DOCS_TAIL_WEIGHT,
    LongDocs,
)
from .errors import ConfigError
from .models import Side, locate
from .sparse import SparseVector, activate, logits_to_sparse, prune_rows, rows_to_sparse

__all__ = ["Chunk", "LongDocs", "MaskedLM", "SpladeEncoder", "pick_device"]

logger = logging.getLogger(__name__)

#: Texts sorted and pooled together; bounds the [texts, vocab] buffer to ~125 MB.
_TEXTS_PER_CALL = 1024

_OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    t for t in {getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)} if t is not None
)


def _is_oom(exc: BaseException) -> bool:
    """True for CUDA/accelerator out-of-memory errors (typed, or an MPS/older-torch RuntimeError)."""
    return isinstance(exc, _OOM_ERRORS) or "out of memory" in str(exc).lower()


def _special_template(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Special token ids the tokenizer puts before and after a single text (e.g. [CLS], [SEP])."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return list(full[:start]), list(full[start + len(plain) :])
    raise ConfigError("cannot work out the tokenizer's special tokens")  # pragma: no cover


@dataclass(frozen=True)
class Chunk:
    """One window of a long text: its vector and the character span ``text[start:end]``."""

    vector: SparseVector
    start: int
    end: int


class SpladeEncoder:
    """One side (documents or queries) of a SPLADE model.

    Args:
        mlm: the loaded masked LM (may be shared with the other side).
        max_length: tokens per sequence, [CLS] and [SEP] included.
        batch_size: sequences per forward pass.
        top_k: keep at most this many terms per vector (None: all).
        threshold: drop weights below this value (None: keep all non-zero).
        long_docs: texts over ``max_length``: ``"first-plus"`` (overlapping windows: the
            first one whole, the later ones' terms at ``LONG_DOCS_TAIL_WEIGHT`` of their
            weight; default), ``"window"`` (all windows max-pooled into one vector),
            ``"chunk"`` (one vector per window, see :meth:`encode_chunks`) or
            ``"truncate"`` (first window only).
        window_overlap: tokens shared by consecutive windows (default: a quarter window).
    """

    def __init__(
        self,
        mlm: MaskedLM,
        *,
        max_length: int = DEFAULT_DOC_MAX_LENGTH,
        batch_size: int = DEFAULT_BATCH_SIZE,
        top_k: int | None = None,
        threshold: float | None = None,
        long_docs: LongDocs = DEFAULT_LONG_DOCS,
        window_overlap: int | None = None,
    ) -> None:
        self._prefix, self._suffix = _special_template(mlm.tokenizer)
        specials = len(self._prefix) + len(self._suffix)
        if max_length <= specials:
            raise ConfigError(f"max_length must exceed the {specials} special tokens, got {max_length}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if top_k is not None and top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {top_k}")
        if threshold is not None and threshold < 0:
            raise ConfigError(f"threshold must be >= 0, got {threshold}")
        if long_docs not in LONG_DOCS_MODES:
            raise ConfigError(f"long_docs must be one of {LONG_DOCS_MODES}, got {long_docs!r}")
        self.window = max_length - specials
        if window_overlap is None:
            window_overlap = self.window // 4
        if not 0 <= window_overlap < self.window:
            raise ConfigError(f"window_overlap must be in [0, {self.window}), got {window_overlap}")
        self.mlm = mlm
        self.max_length = max_length
        self.batch_size = batch_size
        self.top_k = top_k
        self.threshold = threshold
        self.long_docs = long_docs
        self.window_overlap = window_overlap
        self._oom_warned = False
        #: Texts seen so far that were longer than the window (windowed, chunked or truncated).
        self.long_texts = 0

    @classmethod
    def from_pretrained(
        cls,
        model: str,
        *,
        side: Side = "document",
        device: str | None = None,
        half: bool = False,
        max_length: int = DEFAULT_DOC_MAX_LENGTH,
        batch_size: int = DEFAULT_BATCH_SIZE,
        top_k: int | None = None,
        threshold: float | None = None,
        long_docs: LongDocs = DEFAULT_LONG_DOCS,
        window_overlap: int | None = None,
    ) -> SpladeEncoder:
        """Load ``side``'s encoder from a Hub id or directory (plain or Router layout); the
        other arguments are those of :class:`SpladeEncoder`."""
        mlm = MaskedLM.load(locate(model, side=side), device=device, half=half)
        return cls(
            mlm, max_length=max_length, batch_size=batch_size, top_k=top_k, threshold=threshold, long_docs=long_docs,
            window_overlap=window_overlap,
        )

    @property
    def name(self) -> str:
        """The model's id or directory as recorded in fingerprints."""
        return self.mlm.name

    def settings(self) -> dict[str, Any]:
        """What determines the vectors this encoder produces (for fingerprints)."""
        return {
            "model": self.name,
            "max_length": self.max_length,
            "top_k": self.top_k,
            "threshold": self.threshold,
            "long_docs": self.long_docs,
            "window_overlap": None if self.long_docs == "truncate" else self.window_overlap,
            **({"tail_weight": LONG_DOCS_TAIL_WEIGHT} if self.long_docs == "first-plus" else {}),
        }

    def _window_starts(self, n_tokens: int) -> range:
        """Token offsets of the windows of a text with ``n_tokens`` tokens (one if it fits)."""
        if n_tokens <= self.window or self.long_docs == "truncate":
            return range(0, 1)
        step = self.window - self.window_overlap
        return range(0, n_tokens - self.window + step, step)

    def _sequences(self, texts: Sequence[str], *, spans: bool = False) -> tuple[list[list[int]], list[int], list[tuple[int, int]]]:
        """Token id sequences (special tokens added), for each the index of its text, and
        (with ``spans``) the character span of its text that it covers."""
        all_ids, all_offsets = self.mlm.token_ids(texts, offsets=spans)
        seqs: list[list[int]] = []
        owners: list[int] = []
        char_spans: list[tuple[int, int]] = []
        for i, ids in enumerate(all_ids):
            if len(ids) > self.window:
                self.long_texts += 1
            for s in self._window_starts(len(ids)):
                piece = ids[s : s + self.window]
                seqs.append(self._prefix + piece + self._suffix)
                owners.append(i)
                if all_offsets is not None and piece:
                    offs = all_offsets[i]
                    char_spans.append((int(offs[s][0]), int(offs[s + len(piece) - 1][1])))
                else:
                    char_spans.append((0, len(texts[i])))
        return seqs, owners, char_spans

    def _batch_tensors(self, seqs: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = np.full((len(seqs), width), self.mlm.tokenizer.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=np.int64)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = s
            mask[r, : len(s)] = 1
        dev = self.mlm.device
        return torch.from_numpy(ids).to(dev), torch.from_numpy(mask).to(dev)

    def encode_max_logits(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """``[len(texts), vocab]`` float32 max-pooled logits (before activation), input order."""
        if isinstance(texts, str):
            raise TypeError("encode expects a sequence of strings, not one string")
        out = np.full((len(texts), self.mlm.vocab_size), -np.inf, dtype=np.float32)
        if not texts:
            return out
        seqs, owners, _ = self._sequences(texts)
        # "first-plus": later windows are max-pooled apart (long texts only) and down-weighted.
        later: dict[int, np.ndarray] | None = {} if self.long_docs == "first-plus" else None
        for rows, pooled in self._pooled(seqs, show_progress=show_progress):
            for k, r in enumerate(rows):
                o = owners[r]
                if later is not None and r > 0 and owners[r - 1] == o:
                    if o in later:
                        np.maximum(later[o], pooled[k], out=later[o])
                    else:
                        later[o] = pooled[k].copy()
                else:
                    np.maximum(out[o], pooled[k], out=out[o])
        for o, row in (later or {}).items():
            out[o] = pooling.first_plus_logits(out[o], row, LONG_DOCS_TAIL_WEIGHT)
        return out

    def _pooled(self, seqs: Sequence[list[int]], *, show_progress: bool = False) -> Any:
        """Yield ``(rows, pooled)``: batches of sequence indices (longest first) and their
        ``[len(rows), vocab]`` max-pooled logits; halves the batch on out-of-memory."""
        order = sorted(range(len(seqs)), key=lambda k: -len(seqs[k]))
        bar: Any = None
        if show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(order), desc="encoding", unit="seq", leave=False)
        start = 0
        while start < len(order):
            rows = order[start : start + self.batch_size]
            pooled = None
            try:
                ids, mask = self._batch_tensors([seqs[r] for r in rows])
                pooled = self.mlm.max_logits(ids, mask).cpu().numpy()
            except RuntimeError as exc:  # torch.OutOfMemoryError is a RuntimeError
                if not _is_oom(exc):
                    raise
            if pooled is None:  # out of memory; the failed batch's tensors are released by now
                self._shrink_batch(len(rows), len(seqs[rows[0]]))
                continue  # retry the same rows in smaller batches
            yield rows, pooled
            start += len(rows)
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()

    def _shrink_batch(self, failed: int, tokens: int) -> None:
        """After running out of memory on a batch of ``failed`` sequences (the longest has
        ``tokens`` tokens): halve the batch size, or give up when one sequence does not fit."""
        if self.mlm.device.type == "cuda":
            torch.cuda.empty_cache()
        if failed <= 1:
            raise ConfigError(
                f"out of memory on {self.mlm.device} even for one sequence of {tokens} tokens; "
                "lower --doc-max-length, use --half, or encode on another device"
            )
        smaller = max(1, min(self.batch_size, failed) // 2)
        if not self._oom_warned:
            logger.warning("GPU out of memory at batch size %d; continuing with %d", failed, smaller)
            self._oom_warned = True
        else:
            logger.info("out of memory at batch size %d; continuing with %d", failed, smaller)
        self.batch_size = smaller

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> list[SparseVector]:
        """Encode texts to sparse vectors, in input order.

        Raises:
            TypeError: ``texts`` is a single string.
        """
        if isinstance(texts, str):
            raise TypeError("encode expects a sequence of strings, not one string")
        vectors: list[SparseVector] = []
        for start in range(0, len(texts), _TEXTS_PER_CALL):
            part = texts[start : start + _TEXTS_PER_CALL]
            vectors.extend(self._finish(self.encode_max_logits(part, show_progress=show_progress)))
        return vectors

    def _finish(self, logits: np.ndarray) -> list[SparseVector]:
        if self.top_k is None and self.threshold is None:
            return logits_to_sparse(logits)
        return rows_to_sparse(prune_rows(activate(logits), top_k=self.top_k, threshold=self.threshold))

    def encode_chunks(self, texts: Sequence[str], *, show_progress: bool = False) -> list[list[Chunk]]:
        """One :class:`Chunk` per window of each text, in input order (``long_docs="chunk"``).

        A text that fits in ``max_length`` gives one chunk equal to :meth:`encode`'s vector;
        a longer one gives overlapping windows (``window_overlap`` tokens shared), each with
        the character span of the text it covers.

        Raises:
            TypeError: ``texts`` is a single string.
        """
        if isinstance(texts, str):
            raise TypeError("encode_chunks expects a sequence of strings, not one string")
        out: list[list[Chunk]] = [[] for _ in texts]
        for start in range(0, len(texts), _TEXTS_PER_CALL // 4):
            part = texts[start : start + _TEXTS_PER_CALL // 4]
            seqs, owners, spans = self._sequences(part, spans=True)
            logits = np.empty((len(seqs), self.mlm.vocab_size), dtype=np.float32)
            for rows, pooled in self._pooled(seqs, show_progress=show_progress):
                logits[rows] = pooled
            for r, vec in enumerate(self._finish(logits)):
                out[start + owners[r]].append(Chunk(vec, spans[r][0], spans[r][1]))
        return out

    def decode(self, indices: Sequence[int]) -> list[str]:
        """Vocabulary strings of term ids (for explanations)."""
        return self.mlm.decode(indices)
