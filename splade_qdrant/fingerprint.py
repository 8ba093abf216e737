"""The encoder fingerprint a collection records, and the checks made against it.

A collection's vectors only make sense with the encoders that produced them. At creation
we record the document and query encoder settings (model, max length, pruning, long-document
mode), the dense encoder if any, and the library version. Ingesting more documents with a
different document encoder, or searching with a different query model, is refused with a
message that says what was recorded.

Example:
    >>> rec = {"document": {"model": "m", "max_length": 256}, "query": {"model": "m", "max_length": 64}}
    >>> check_documents(rec, {"model": "m", "max_length": 256}, collection="c")
    >>> check_documents(rec, {"model": "other", "max_length": 256}, collection="c")
    Traceback (most recent call last):
    ...
    splade_qdrant.errors.FingerprintMismatchError: collection 'c' was built with document encoder model='m', not model='other'; use the recorded settings or ingest into a new collection
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ._version import __version__
from .errors import FingerprintMismatchError

__all__ = [
    "build", "check_documents", "check_query_model", "check_query_settings", "describe_diff", "encoder_settings", "is_chunked",
    "query_setting_diff", "recorded_query_model", "same_model",
]

#: The settings key holding a model's content digest (see :func:`splade_qdrant.models.model_digest`).
DIGEST_KEY = "model_sha256"


def build(
    pair_settings: Mapping[str, Any], *, sparse_vector: str, dense: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The metadata dict recorded with a new collection."""
    return {
        "library": "splade_qdrant",
        "version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sparse_vector": sparse_vector,
        "document": dict(pair_settings["document"]),
        "query": dict(pair_settings["query"]),
        "dense": None if dense is None else dict(dense),
    }


def encoder_settings(encoder: Any) -> dict[str, Any]:
    """A SPLADE encoder's settings plus, for a model loaded from a directory, the content
    digest of its config, tokenizer and weights (``model_sha256``): what the fingerprint
    records and what checks compare. The ``model`` path is kept as information."""
    from .models import digest_of

    settings = dict(encoder.settings())
    settings[DIGEST_KEY] = digest_of(getattr(encoder.mlm, "model", None))
    return settings


def same_model(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    """Whether two encoder settings name the same model.

    By content digest when both have one (a copied or moved model is the same model), else
    by the recorded id or path (collections built before digests were recorded).

    >>> same_model({"model": "/a/m", "model_sha256": "x"}, {"model": "/b/m", "model_sha256": "x"})
    True
    >>> same_model({"model": "/a/m"}, {"model": "/b/m", "model_sha256": "x"})
    False
    """
    if recorded.get(DIGEST_KEY) and given.get(DIGEST_KEY):
        return bool(recorded[DIGEST_KEY] == given[DIGEST_KEY])
    return str(recorded.get("model", "")) == str(given.get("model", ""))


def describe_diff(keys: Sequence[str], recorded: Mapping[str, Any], given: Mapping[str, Any], *, unset: str = "None") -> str:
    """``key=recorded, …, not key=given, …`` for refusal messages (``unset`` shows a value never recorded).

    >>> describe_diff(["max_length", "top_k"], {"max_length": 64}, {"max_length": 32, "top_k": 10}, unset="unset")
    'max_length=64, top_k=unset, not max_length=32, top_k=10'
    """
    def shown(value: Any) -> str:
        return unset if value is None else repr(value)

    was = ", ".join(f"{k}={shown(recorded.get(k))}" for k in keys)
    return f"{was}, not " + ", ".join(f"{k}={given.get(k)!r}" for k in keys)


def query_setting_diff(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> list[str]:
    """The recorded query settings (max length, pruning) that ``given`` changes.

    >>> query_setting_diff({"max_length": 64, "top_k": None}, {"max_length": 32, "top_k": None})
    ['max_length']
    """
    return [k for k in ("max_length", "top_k", "threshold") if k in recorded and recorded.get(k) != given.get(k)]


def _diff(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> str | None:
    model_keys = {"model", DIGEST_KEY}
    keys = [k for k in sorted(set(recorded) | set(given)) if k not in model_keys and recorded.get(k) != given.get(k)]
    if not same_model(recorded, given):
        keys.insert(0, "model")
    return describe_diff(keys, recorded, given) if keys else None


def check_documents(recorded: Mapping[str, Any], document_settings: Mapping[str, Any], *, collection: str) -> None:
    """Refuse to add documents encoded differently from those already in ``collection``."""
    diff = _diff(recorded.get("document", {}), document_settings)
    if diff is not None:
        raise FingerprintMismatchError(
            f"collection {collection!r} was built with document encoder {diff}; "
            "use the recorded settings or ingest into a new collection"
        )


def recorded_query_model(recorded: Mapping[str, Any]) -> tuple[str, int]:
    """(model id or directory, max length) of the recorded query encoder."""
    query = recorded.get("query") or {}
    model = str(query.get("model", ""))
    return model.split("::", 1)[0], int(query.get("max_length", 64))


def is_chunked(recorded: Mapping[str, Any]) -> bool:
    """True if the collection stores one point per window of each document (``long_docs="chunk"``)."""
    return (recorded.get("document") or {}).get("long_docs") == "chunk"


def check_query_model(recorded: Mapping[str, Any], query_settings: Mapping[str, Any], *, collection: str) -> None:
    """Refuse a query encoder other than the recorded one (compared by content digest when
    both record one, so a moved or copied model passes; else by id or path)."""
    was = recorded.get("query") or {}
    if was.get("model") and not same_model(was, query_settings):
        raise FingerprintMismatchError(
            f"collection {collection!r} was built for query encoder {was.get('model')!r}, not {query_settings.get('model')!r}; "
            "omit the query model to use the recorded one, or pass allow_model_mismatch=True "
            "(--allow-model-mismatch) to search with another model anyway"
        )


def check_query_settings(recorded: Mapping[str, Any], query_settings: Mapping[str, Any], *, collection: str) -> None:
    """Refuse a query encoder whose max length or pruning differs from the recorded one
    (search encodes queries as the collection recorded)."""
    was = recorded.get("query") or {}
    if not was:
        return
    keys = query_setting_diff(was, query_settings)
    if keys:
        raise FingerprintMismatchError(
            f"collection {collection!r} encodes queries with {describe_diff(keys, was, query_settings)}; "
            "use an encoder with the recorded settings (or omit the query options)"
        )
