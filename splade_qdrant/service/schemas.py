"""Request and response bodies of the HTTP service (pydantic models; they make the OpenAPI schema).

Hits are returned exactly as ``splade-qdrant search --json`` prints them
(:meth:`~splade_qdrant.search.SearchHit.as_dict`); :class:`Hit` documents that shape.

Example:
    >>> SearchRequest(text="wing flutter", limit=5).search_options()["limit"]
    5
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "BatchSearchRequest",
    "BatchSearchResponse",
    "CollectionInfo",
    "DeleteResponse",
    "DocumentsRequest",
    "EmbedSparseRequest",
    "ErrorResponse",
    "Health",
    "Highlight",
    "Hit",
    "SearchRequest",
    "SearchResponse",
    "SparseValue",
]

#: Characters of one query text at most (the query encoder truncates far below this anyway).
MAX_QUERY_CHARS = 10_000
#: Queries of one batch request at most.
MAX_BATCH_QUERIES = 256
#: Documents of one ``POST /documents`` at most (the body cap applies too).
MAX_DOCUMENTS = 10_000
#: Texts of one ``POST /embed_sparse`` at most.
MAX_EMBED_INPUTS = 256
#: Characters of one text to embed at most.
MAX_EMBED_CHARS = 100_000
#: The service's hard cap on limit and offset; ``--max-limit`` lowers the cap on their sum.
HARD_MAX_LIMIT = 10_000

_INT64 = (-(2**63), 2**63 - 1)
#: Payload keys a filter may name: words (any script), '-' and '_', nested with '.' (what Qdrant's key paths accept).
FILTER_KEY_PATTERN = r"^[\w-]+(\.[\w-]+)*$"
FilterKey = Annotated[str, Field(pattern=FILTER_KEY_PATTERN, max_length=256)]
FilterScalar = Annotated[int, Field(ge=_INT64[0], le=_INT64[1])] | str | bool
FilterValue = FilterScalar | Annotated[list[Annotated[int, Field(ge=_INT64[0], le=_INT64[1])] | str], Field(min_length=1, max_length=1000)]


def _valid_unicode(text: str, what: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} holds an unpaired surrogate, which is not valid Unicode") from None
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _SearchOptions(_Strict):
    limit: int = Field(10, ge=1, le=HARD_MAX_LIMIT, description="hits to return")
    offset: int = Field(0, ge=0, le=HARD_MAX_LIMIT, description="hits to skip (paging)")
    score_threshold: float | None = Field(None, description="drop hits scoring below this (the fused score in hybrid mode)")
    filter: dict[FilterKey, FilterValue] | None = Field(
        None, description='payload filter: {"key": value} must match, {"key": [v1, v2]} any of', max_length=64
    )
    mode: Literal["sparse", "dense", "hybrid"] = "sparse"
    fusion: Literal["rrf", "dbsf"] = Field("rrf", description="hybrid fusion")
    rrf_k: int = Field(60, ge=1, le=100_000, description="RRF constant, ranks from 1: Σ 1/(k + rank)")
    weights: list[Annotated[float, Field(ge=0, le=1e6)]] | None = Field(
        None, min_length=2, max_length=2, description="RRF weights of the sparse and dense sides"
    )
    prefetch_limit: int | None = Field(None, ge=1, le=HARD_MAX_LIMIT, description="candidates per side (hybrid)")
    explain: bool = Field(False, description="attach the matching SPLADE terms and their contributions")

    @field_validator("filter")
    @classmethod
    def _filter_text(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, v in (value or {}).items():
            if not key:
                raise ValueError("filter keys must be non-empty")
            _valid_unicode(key, "a filter key")
            for item in v if isinstance(v, list) else [v]:
                if isinstance(item, str):
                    _valid_unicode(item, f"filter {key!r}")
        return value

    def search_options(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`~splade_qdrant.search.Searcher.search_batch` (hybrid
        searches carry each side's rank and score, as ``search --json`` prints them)."""
        return {
            "limit": self.limit,
            "offset": self.offset,
            "score_threshold": self.score_threshold,
            "filter": self.filter,
            "mode": self.mode,
            "fusion": self.fusion,
            "rrf_k": self.rrf_k,
            "weights": self.weights,
            "prefetch_limit": self.prefetch_limit,
            "explain": self.explain,
            "breakdown": self.mode == "hybrid",
        }


class SearchRequest(_SearchOptions):
    """One query."""

    text: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="query text")
    highlight: bool = Field(
        False, description="also return, per hit, the text with the query's matching words marked (implies explain)"
    )

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return _valid_unicode(value, "'text'")


class BatchSearchRequest(_SearchOptions):
    """Several queries with the same options."""

    texts: list[Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]] = Field(
        min_length=1, max_length=MAX_BATCH_QUERIES, description="query texts"
    )

    @field_validator("texts")
    @classmethod
    def _texts(cls, value: list[str]) -> list[str]:
        return [_valid_unicode(t, "a query text") for t in value]


class Hit(BaseModel):
    """One hit, as ``splade-qdrant search --json`` prints it."""

    id: str
    score: float
    payload: dict[str, Any]
    point_id: str
    breakdown: dict[str, Any] | None = Field(None, description="hybrid: each side's rank (from 1) and score")
    explanation: list[dict[str, Any]] | None = Field(None, description="matching terms, largest contribution first")


class HighlightSpan(BaseModel):
    """A word of the text that carries query terms."""

    start: int = Field(description="character offset in Highlight.text")
    end: int
    contribution: float = Field(description="sum of the contributions of the terms it carries")
    terms: list[str]


class Highlight(BaseModel):
    """Why a hit matched, mapped onto its text."""

    field: str | None = Field(description="payload field the text comes from (None: no text in the payload)")
    text: str = Field(description="the snippet shown")
    start: int = Field(description="where the snippet starts in the field's text")
    truncated_before: bool
    truncated_after: bool
    spans: list[HighlightSpan]
    unmatched_terms: list[dict[str, Any]] = Field(description="matching terms absent from the text (SPLADE expansion)")


class SearchResponse(BaseModel):
    hits: list[Hit]
    highlights: list[Highlight] | None = Field(None, description="one per hit when highlight was asked for")


class BatchSearchResponse(BaseModel):
    results: list[SearchResponse]


class DocumentsRequest(_Strict):
    """Documents to ingest: the same objects as the lines of a JSONL corpus."""

    documents: list[Any] = Field(
        min_length=1, max_length=MAX_DOCUMENTS,
        description='objects with "_id" or "id", "text", optional "title"; other fields go to the payload',
    )
    store_text: bool = Field(True, description="keep the text in the payload (the search page shows it)")
    skip_bad: bool = Field(False, description="skip and report bad documents instead of refusing the request")
    insert_only: bool = Field(False, description="never overwrite existing documents")
    reencode: bool = Field(False, description="re-encode documents even when stored unchanged")


class DeleteResponse(BaseModel):
    id: str
    points_deleted: int


class CollectionInfo(BaseModel):
    collection: str
    points: int
    fingerprint: dict[str, Any]
    sparse_vector: str
    dense: dict[str, Any] | None
    store: str


class Health(BaseModel):
    status: Literal["ok"]
    collection: str
    collection_exists: bool
    dense: bool
    version: str
    batching: bool
    max_batch: int
    max_wait_ms: float


class EmbedSparseRequest(_Strict):
    """Text Embeddings Inference's ``/embed_sparse`` request (unknown fields are ignored, as TEI does)."""

    model_config = ConfigDict(extra="ignore")

    inputs: Annotated[str, Field(max_length=MAX_EMBED_CHARS)] | list[Annotated[str, Field(max_length=MAX_EMBED_CHARS)]] = Field(
        description="one text or a list of texts"
    )
    truncate: bool | None = Field(None, description="accepted for compatibility; long texts follow the encoder's settings")
    truncation_direction: Literal["Left", "Right", "left", "right"] | None = Field(None, description="accepted for compatibility")
    prompt_name: str | None = Field(None, description="accepted for compatibility; unused")
    side: Literal["document", "query"] | None = Field(None, description="encoder side (default: the server's --embed-side)")

    @field_validator("inputs")
    @classmethod
    def _inputs(cls, value: str | list[str]) -> str | list[str]:
        texts = [value] if isinstance(value, str) else value
        if len(texts) > MAX_EMBED_INPUTS:
            raise ValueError(f"at most {MAX_EMBED_INPUTS} inputs per request")
        for t in texts:
            _valid_unicode(t, "an input")
        return value


class SparseValue(BaseModel):
    index: int
    value: float


class ErrorResponse(BaseModel):
    detail: str | list[dict[str, Any]] = Field(description="what is wrong (a list for schema validation errors)")
