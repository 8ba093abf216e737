"""The encoder options, spelled out once: :class:`EncoderOptions`.

The CLI, :class:`~splade_qdrant.collection.SpladeQdrant` and
:class:`~splade_qdrant.pair.EncoderPair` all take their ~14 encoder options as one frozen,
keyword-only value, validated once when it is made. This module imports no torch.

The query-side options ``query_max_length``, ``query_top_k`` and ``query_threshold`` default
to None, meaning *what the collection recorded* (or the library default for a new
collection): the fingerprint is the one source of truth for how queries are encoded, and an
explicit value that differs from the recorded one is refused by :meth:`EncoderOptions.query_settings`.

Example:
    >>> opts = EncoderOptions(model="../shared/models/splade-tiny", doc_max_length=128)
    >>> opts.doc_max_length, opts.query_max_length
    (128, None)
    >>> opts.query_settings({"query": {"max_length": 32, "top_k": 5, "threshold": None}})
    {'max_length': 32, 'top_k': 5, 'threshold': None}
    >>> EncoderOptions(query_max_length=16).query_settings({"query": {"max_length": 32}})
    Traceback (most recent call last):
    ...
    splade_qdrant.errors.FingerprintMismatchError: the collection encodes queries with max_length=32 (recorded at ingestion), not max_length=16; omit the option to use the recorded value
    >>> EncoderOptions(batch_size=0)
    Traceback (most recent call last):
    ...
    splade_qdrant.errors.ConfigError: batch_size must be an integer >= 1, got 0
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DOC_MAX_LENGTH,
    DEFAULT_LONG_DOCS,
    DEFAULT_QUERY_MAX_LENGTH,
    LONG_DOCS_MODES,
    LongDocs,
)
from .errors import ConfigError, FingerprintMismatchError

__all__ = ["MAX_PAGE", "MAX_RRF_K", "QUERY_SETTINGS", "EncoderOptions", "check_device_available", "check_device_name", "check_int", "check_number", "check_search_options", "resolve_query_settings"]

#: Query-encoder settings the fingerprint records and search must use.
QUERY_SETTINGS = ("max_length", "top_k", "threshold")

#: Largest ``limit + offset`` (and prefetch limit) a search accepts.
MAX_PAGE = 1_000_000
#: Largest RRF constant accepted (far beyond where the fused ranking stops depending on it).
MAX_RRF_K = 1_000_000

_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def check_int(name: str, value: Any, *, minimum: int, maximum: int | None = None, optional: bool = False) -> None:
    """Raise ConfigError unless ``value`` is an int (not a bool) in ``[minimum, maximum]``.

    >>> check_int("limit", "5", minimum=1)
    Traceback (most recent call last):
    ...
    splade_qdrant.errors.ConfigError: limit must be an integer >= 1, got '5'
    """
    if value is None and optional:
        return
    bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name} must be an integer {bound}, got {value!r}")


def check_number(name: str, value: Any, *, minimum: float | None = None, optional: bool = False) -> None:
    """Raise ConfigError unless ``value`` is a finite real number (>= ``minimum`` if given)."""
    if value is None and optional:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (minimum is not None and value < minimum):
        bound = "a finite number" if minimum is None else f"a finite number >= {minimum:g}"
        raise ConfigError(f"{name} must be {bound}, got {value!r}")


def check_device_name(device: Any) -> None:
    """Raise ConfigError unless ``device`` is None or ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Whether the device exists is checked where torch is loaded (:func:`splade_qdrant.encoder.pick_device`).
    """
    if device is not None and (not isinstance(device, str) or not _DEVICE.match(device)):
        raise ConfigError(f"device must be cpu, cuda, cuda:N or mps, got {device!r}")


def check_search_options(
    *,
    limit: Any,
    offset: Any = 0,
    score_threshold: Any = None,
    prefetch_limit: Any = None,
    fusion: Any = "rrf",
    rrf_k: Any = 60,
    weights: Any = None,
) -> None:
    """Raise ConfigError, saying what is expected, for a search option out of range (no torch, no store).

    >>> check_search_options(limit=10, weights=[0, 0])
    Traceback (most recent call last):
    ...
    splade_qdrant.errors.ConfigError: weights must not all be 0 (every score would be 0), got [0, 0]
    """
    check_int("limit", limit, minimum=1, maximum=MAX_PAGE)
    check_int("offset", offset, minimum=0, maximum=MAX_PAGE)
    if limit + offset > MAX_PAGE:
        raise ConfigError(f"limit + offset must be at most {MAX_PAGE}, got {limit} + {offset}")
    check_int("prefetch_limit", prefetch_limit, minimum=1, maximum=MAX_PAGE, optional=True)
    check_number("score_threshold", score_threshold, optional=True)
    if fusion not in ("rrf", "dbsf"):
        raise ConfigError(f"fusion must be rrf or dbsf, got {fusion!r}")
    check_int("rrf_k", rrf_k, minimum=0, maximum=MAX_RRF_K)
    if weights is None:
        return
    if fusion != "rrf":
        raise ConfigError("weights apply to RRF fusion (fusion='rrf')")
    if isinstance(weights, (str, bytes)) or not isinstance(weights, (list, tuple)) or len(weights) != 2:
        raise ConfigError(f"weights take two numbers (sparse, dense), got {weights!r}")
    for w in weights:
        check_number("each weight", w, minimum=0)
    if not any(weights):
        raise ConfigError(f"weights must not all be 0 (every score would be 0), got {list(weights)}")


def check_device_available(device: str | None) -> None:
    """Raise ConfigError if ``device`` names an accelerator this torch cannot use (imports torch;
    called just before a model loads)."""
    check_device_name(device)
    if device is None or device == "cpu":
        return
    import torch

    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if count == 0:
            raise ConfigError(
                f"--device {device}: this torch {torch.__version__} sees no CUDA device "
                f"({'a CPU-only build' if torch.version.cuda is None else 'no GPU or driver'}); use --device cpu or omit --device"
            )
        if index >= count:
            raise ConfigError(f"--device {device}: only {count} CUDA device(s) (cuda:0 to cuda:{count - 1})")
    elif device == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError("--device mps: Apple's MPS backend is not available here; use --device cpu or omit --device")


@dataclass(frozen=True, kw_only=True)
class EncoderOptions:
    """How to load and run the SPLADE encoders (both sides).

    Args:
        model: preset name, Hub id or directory for both sides (default ``SPLADE_QDRANT_MODEL``
            or the efficient-SPLADE pair).
        doc_model, query_model: override one side each.
        doc_max_length: document tokens per window, [CLS]/[SEP] included (default 256).
        query_max_length: query tokens, [CLS]/[SEP] included (None: recorded, else 64).
        long_docs: documents over ``doc_max_length``: ``"first-plus"`` (default), ``"window"``,
            ``"chunk"`` or ``"truncate"`` (see :mod:`splade_qdrant.pooling`).
        window_overlap: tokens shared by consecutive windows (None: a quarter window).
        doc_top_k, doc_threshold: optional document pruning.
        query_top_k, query_threshold: optional query pruning (None: recorded, else none).
        batch_size: sequences per forward pass (default 32).
        device: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` (None: best available).
        half: bfloat16/float16 on an accelerator.
    """

    model: str | None = None
    doc_model: str | None = None
    query_model: str | None = None
    doc_max_length: int = DEFAULT_DOC_MAX_LENGTH
    query_max_length: int | None = None
    long_docs: LongDocs = DEFAULT_LONG_DOCS
    window_overlap: int | None = None
    doc_top_k: int | None = None
    doc_threshold: float | None = None
    query_top_k: int | None = None
    query_threshold: float | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    device: str | None = None
    half: bool = False

    def __post_init__(self) -> None:
        for name in ("model", "doc_model", "query_model"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"{name} must be a non-empty string (preset, Hub id or directory), got {value!r}")
        if self.model is not None and self.doc_model is not None and self.query_model is not None:
            raise ConfigError("give --model, or --doc-model and --query-model, not all three")
        check_int("doc_max_length", self.doc_max_length, minimum=3)
        check_int("query_max_length", self.query_max_length, minimum=3, optional=True)
        if self.long_docs not in LONG_DOCS_MODES:
            raise ConfigError(f"long_docs must be one of {', '.join(LONG_DOCS_MODES)}, got {self.long_docs!r}")
        check_int("window_overlap", self.window_overlap, minimum=0, optional=True)
        check_int("doc_top_k", self.doc_top_k, minimum=1, optional=True)
        check_int("query_top_k", self.query_top_k, minimum=1, optional=True)
        check_number("doc_threshold", self.doc_threshold, minimum=0, optional=True)
        check_number("query_threshold", self.query_threshold, minimum=0, optional=True)
        check_int("batch_size", self.batch_size, minimum=1)
        check_device_name(self.device)
        if not isinstance(self.half, bool):
            raise ConfigError(f"half must be True or False, got {self.half!r}")

    def as_dict(self) -> dict[str, Any]:
        """The options as a plain dict (field name → value)."""
        return asdict(self)

    def query_settings(self, recorded: Mapping[str, Any] | None) -> dict[str, Any]:
        """The query encoder's ``max_length``, ``top_k`` and ``threshold`` for a collection.

        ``recorded`` is the collection's fingerprint (None or empty for a new collection).
        Options left None take the recorded value (or the default); an explicit value that
        differs from the recorded one raises :class:`FingerprintMismatchError`.
        """
        given = {"max_length": self.query_max_length, "top_k": self.query_top_k, "threshold": self.query_threshold}
        return resolve_query_settings((recorded or {}).get("query"), given)


def resolve_query_settings(recorded_query: Mapping[str, Any] | None, given: Mapping[str, Any]) -> dict[str, Any]:
    """Merge explicit query settings (None = unset) with the recorded ones; refuse a difference.

    >>> resolve_query_settings(None, {"max_length": None, "top_k": 3, "threshold": None})
    {'max_length': 64, 'top_k': 3, 'threshold': None}
    """
    if not recorded_query:
        out = {k: given.get(k) for k in QUERY_SETTINGS}
        if out["max_length"] is None:
            out["max_length"] = DEFAULT_QUERY_MAX_LENGTH
        return out
    out = {k: recorded_query.get(k, DEFAULT_QUERY_MAX_LENGTH if k == "max_length" else None) for k in QUERY_SETTINGS}
    differ = [k for k in QUERY_SETTINGS if given.get(k) is not None and given.get(k) != out[k]]
    if differ:
        was = ", ".join(f"{k}={out[k]!r}" for k in differ)
        now = ", ".join(f"{k}={given[k]!r}" for k in differ)
        raise FingerprintMismatchError(
            f"the collection encodes queries with {was} (recorded at ingestion), not {now}; omit the option to use the recorded value"
        )
    return out
