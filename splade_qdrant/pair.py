"""The encoder pair: a document encoder and a query encoder, plus the fingerprint they imply.

Efficient SPLADE uses two models (a large document encoder run at ingestion, a tiny query
encoder run per query); symmetric SPLADE uses one model on both sides. Both are an
:class:`EncoderPair`; when both sides name the same model it is loaded once.

Example:
    >>> pair = EncoderPair.from_pretrained(model="../shared/models/splade-tiny")  # doctest: +SKIP
    >>> pair.document.max_length, pair.query.max_length  # doctest: +SKIP
    (256, 64)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DOC_MAX_LENGTH,
    DEFAULT_MODEL,
    DEFAULT_QUERY_MAX_LENGTH,
    ENV_MODEL,
    env_or,
    resolve_preset,
)
from .encoder import DEFAULT_LONG_DOCS, LongDocs, MaskedLM, SpladeEncoder
from .errors import ConfigError
from .models import locate

__all__ = ["EncoderPair"]


@dataclass(frozen=True)
class EncoderPair:
    """A document encoder and a query encoder (possibly sharing one model)."""

    document: SpladeEncoder
    query: SpladeEncoder

    @classmethod
    def from_pretrained(
        cls,
        model: str | None = None,
        *,
        doc_model: str | None = None,
        query_model: str | None = None,
        doc_max_length: int = DEFAULT_DOC_MAX_LENGTH,
        query_max_length: int = DEFAULT_QUERY_MAX_LENGTH,
        doc_top_k: int | None = None,
        doc_threshold: float | None = None,
        query_top_k: int | None = None,
        query_threshold: float | None = None,
        long_docs: LongDocs = DEFAULT_LONG_DOCS,
        window_overlap: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        device: str | None = None,
        half: bool = False,
    ) -> EncoderPair:
        """Load a pair from a preset name, a Hub id or a directory.

        Args:
            model: preset name (e.g. ``"efficient-splade-VI-BT-large"``), Hub id or directory
                used for both sides; default ``SPLADE_QDRANT_MODEL`` or the efficient-SPLADE pair.
            doc_model, query_model: override one side each.
            doc_max_length, query_max_length: token budgets including [CLS]/[SEP].
            doc_top_k, doc_threshold, query_top_k, query_threshold: optional pruning.
            long_docs: documents over ``doc_max_length``: ``"window"`` (max-pooled windows,
                default), ``"chunk"`` (one point per window) or ``"truncate"``.
            window_overlap: tokens shared by consecutive windows (default: a quarter window).
            batch_size: sequences per forward pass.
            device, half: see :class:`~splade_qdrant.encoder.MaskedLM`.
        """
        if model is not None and (doc_model is not None and query_model is not None):
            raise ConfigError("give --model, or --doc-model and --query-model, not all three")
        base_doc, base_query = resolve_preset(env_or(model, ENV_MODEL, DEFAULT_MODEL) or DEFAULT_MODEL)
        doc_id = doc_model or base_doc
        query_id = query_model or base_query
        q_loc = locate(query_id, side="query")
        q_mlm = MaskedLM.load(q_loc, device=device, half=half)
        d_loc = locate(doc_id, side="document")
        d_mlm = q_mlm if d_loc == q_loc else MaskedLM.load(d_loc, device=device, half=half)
        common: dict[str, Any] = {"batch_size": batch_size}
        document = SpladeEncoder(
            d_mlm, max_length=doc_max_length, top_k=doc_top_k, threshold=doc_threshold, long_docs=long_docs,
            window_overlap=window_overlap, **common
        )
        query = SpladeEncoder(
            q_mlm, max_length=query_max_length, top_k=query_top_k, threshold=query_threshold, long_docs="truncate", **common
        )
        return cls(document, query)

    def settings(self) -> dict[str, Any]:
        """Both sides' settings, as recorded in a collection's fingerprint."""
        return {"document": self.document.settings(), "query": self.query.settings()}
