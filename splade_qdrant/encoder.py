"""SPLADE encoders: text → :class:`~splade_qdrant.sparse.SparseVector`.

The weight of vocabulary term ``j`` is ``max_t log(1 + relu(logit[t, j]))`` over the text's
non-padding tokens ([CLS] and [SEP] included). We compute it as the activation of the
*masked max of the logits* — identical, because the activation is monotone — and for BERT
and DistilBERT masked LMs we never materialise the ``[batch, tokens, vocab]`` logits: the
head's transform runs on the packed non-padding tokens and the vocabulary projection is
reduced chunk by chunk (:mod:`splade_qdrant._projection`).

Inputs are tokenised once, sorted by length, batched, and restored to input order. Texts
longer than the model's window are never cut silently: by default they are split into
overlapping windows whose logits are max-pooled into one vector (``long_docs="window"``, the
same max the model applies over tokens); ``"chunk"`` keeps one vector per window
(:meth:`SpladeEncoder.encode_chunks`, one point per window at ingestion); ``"truncate"``
keeps the first window only (what the published SPLADE evaluations do).

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

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from ._body import lean_body
from ._projection import Projection
from .config import DEFAULT_BATCH_SIZE, DEFAULT_DOC_MAX_LENGTH, LONG_DOCS_MODES
from .errors import ConfigError
from .models import ModelLocation, Side, load_masked_lm, locate
from .sparse import SparseVector, activate, logits_to_sparse, prune_rows, rows_to_sparse

__all__ = ["Chunk", "LongDocs", "MaskedLM", "SpladeEncoder", "pick_device"]

logger = logging.getLogger(__name__)

LongDocs = Literal["window", "truncate", "chunk"]
DEFAULT_LONG_DOCS: LongDocs = "window"
#: Tokens per padded projection chunk on accelerators ([16k, 30522] bf16 logits ≈ 1 GB).
_ACCEL_TOKEN_BUDGET = 16384
_SMALL_TOKENS = 512  #: CPU inputs up to this many token slots run torch on one thread
#: Texts sorted and pooled together; bounds the [texts, vocab] buffer to ~125 MB.
_TEXTS_PER_CALL = 1024


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run torch's CPU operations on one thread inside the block (process-wide setting)."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    t for t in {getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)} if t is not None
)


def _is_oom(exc: BaseException) -> bool:
    """True for CUDA/accelerator out-of-memory errors (typed, or an MPS/older-torch RuntimeError)."""
    return isinstance(exc, _OOM_ERRORS) or "out of memory" in str(exc).lower()


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


def _special_template(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Special token ids the tokenizer puts before and after a single text (e.g. [CLS], [SEP])."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return list(full[:start]), list(full[start + len(plain) :])
    raise ConfigError("cannot work out the tokenizer's special tokens")  # pragma: no cover


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


@dataclass(frozen=True)
class Chunk:
    """One window of a long text: its vector and the character span ``text[start:end]``."""

    vector: SparseVector
    start: int
    end: int


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

        Small CPU inputs (a query) run torch on one thread: its operations are too small to
        split, and idle OpenMP workers spinning beside BLAS's threads cost tail latency
        (p99 ~120 ms instead of ~12 ms for single queries on 2 cores).
        """
        if self.device.type == "cpu" and input_ids.numel() <= _SMALL_TOKENS:
            with _one_torch_thread():
                return self._max_logits(input_ids, attention_mask)
        return self._max_logits(input_ids, attention_mask)

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


class SpladeEncoder:
    """One side (documents or queries) of a SPLADE model.

    Args:
        mlm: the loaded masked LM (may be shared with the other side).
        max_length: tokens per sequence, [CLS] and [SEP] included.
        batch_size: sequences per forward pass.
        top_k: keep at most this many terms per vector (None: all).
        threshold: drop weights below this value (None: keep all non-zero).
        long_docs: texts over ``max_length``: ``"window"`` (overlapping windows, max-pooled
            into one vector; default), ``"chunk"`` (one vector per window, see
            :meth:`encode_chunks`) or ``"truncate"`` (first window only).
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
        **options: Any,
    ) -> SpladeEncoder:
        """Load ``side``'s encoder from a Hub id or directory (plain or Router layout).

        ``options`` are the keyword arguments of :class:`SpladeEncoder`.
        """
        mlm = MaskedLM.load(locate(model, side=side), device=device, half=half)
        return cls(mlm, **options)

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
        for rows, pooled in self._pooled(seqs, show_progress=show_progress):
            for k, r in enumerate(rows):
                np.maximum(out[owners[r]], pooled[k], out=out[owners[r]])
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
