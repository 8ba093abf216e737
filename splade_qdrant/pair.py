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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DOC_MAX_LENGTH,
    DEFAULT_LONG_DOCS,
    DEFAULT_MODEL,
    ENV_MODEL,
    LongDocs,
    env_or,
    resolve_preset,
)
from .encoder import MaskedLM, SpladeEncoder
from .errors import ConfigError
from .fingerprint import encoder_settings
from .models import ModelLocation, locate, max_positions
from .options import EncoderOptions, check_device_available

__all__ = ["EncoderPair", "check_max_length"]


def check_max_length(location: ModelLocation, max_length: int, *, option: str) -> None:
    """Refuse a token budget above the model's position embeddings (read from config.json, no torch).

    >>> check_max_length(ModelLocation("/no/such/model"), 10_000, option="--doc-max-length")  # unknown: no check
    """
    limit = max_positions(location)
    if limit is not None and max_length > limit:
        raise ConfigError(
            f"{option} {max_length} exceeds the {limit} positions of model {location.label!r} "
            f"(max_position_embeddings); use {option} {limit} or less (longer documents are split into windows, see --long-docs)"
        )


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
        query_max_length: int | None = None,
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

        The arguments are the fields of :class:`~splade_qdrant.options.EncoderOptions`
        (``query_max_length`` None means 64); see :meth:`from_options`.
        """
        return cls.from_options(EncoderOptions(
            model=model, doc_model=doc_model, query_model=query_model, doc_max_length=doc_max_length,
            query_max_length=query_max_length, doc_top_k=doc_top_k, doc_threshold=doc_threshold, query_top_k=query_top_k,
            query_threshold=query_threshold, long_docs=long_docs, window_overlap=window_overlap, batch_size=batch_size,
            device=device, half=half,
        ))

    @classmethod
    def from_options(cls, options: EncoderOptions, *, recorded: Mapping[str, Any] | None = None) -> EncoderPair:
        """Load the pair ``options`` describe.

        ``recorded`` is an existing collection's fingerprint: query settings left None take
        its values, and explicit ones that differ are refused (the fingerprint is what search
        uses). Token budgets above the model's positions are refused before any weights load.
        """
        if not isinstance(options, EncoderOptions):
            raise ConfigError(f"options must be an EncoderOptions, got {type(options).__name__}")
        query_settings = options.query_settings(recorded)
        check_device_available(options.device)
        base_doc, base_query = resolve_preset(env_or(options.model, ENV_MODEL, DEFAULT_MODEL) or DEFAULT_MODEL)
        q_loc = locate(options.query_model or base_query, side="query")
        d_loc = locate(options.doc_model or base_doc, side="document")
        check_max_length(d_loc, options.doc_max_length, option="--doc-max-length")
        check_max_length(q_loc, query_settings["max_length"], option="--query-max-length")
        q_mlm = MaskedLM.load(q_loc, device=options.device, half=options.half)
        d_mlm = q_mlm if d_loc == q_loc else MaskedLM.load(d_loc, device=options.device, half=options.half)
        document = SpladeEncoder(
            d_mlm, max_length=options.doc_max_length, top_k=options.doc_top_k, threshold=options.doc_threshold,
            long_docs=options.long_docs, window_overlap=options.window_overlap, batch_size=options.batch_size,
        )
        query = SpladeEncoder(
            q_mlm, max_length=query_settings["max_length"], top_k=query_settings["top_k"],
            threshold=query_settings["threshold"], long_docs="truncate", batch_size=options.batch_size,
        )
        return cls(document, query)

    def settings(self) -> dict[str, Any]:
        """Both sides' settings, as recorded in a collection's fingerprint."""
        return {"document": encoder_settings(self.document), "query": encoder_settings(self.query)}
