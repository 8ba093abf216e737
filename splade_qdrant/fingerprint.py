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

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ._version import __version__
from .errors import FingerprintMismatchError

__all__ = ["build", "check_documents", "check_query_model", "is_chunked", "recorded_query_model"]

FINGERPRINT_KEY = "encoder"


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


def _diff(recorded: Mapping[str, Any], given: Mapping[str, Any]) -> tuple[str, str] | None:
    keys = [k for k in sorted(set(recorded) | set(given)) if recorded.get(k) != given.get(k)]
    if not keys:
        return None
    was = ", ".join(f"{k}={recorded.get(k)!r}" for k in keys)
    now = ", ".join(f"{k}={given.get(k)!r}" for k in keys)
    return was, now


def check_documents(recorded: Mapping[str, Any], document_settings: Mapping[str, Any], *, collection: str) -> None:
    """Refuse to add documents encoded differently from those already in ``collection``."""
    diff = _diff(recorded.get("document", {}), document_settings)
    if diff is not None:
        raise FingerprintMismatchError(
            f"collection {collection!r} was built with document encoder {diff[0]}, not {diff[1]}; "
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


def check_query_model(recorded: Mapping[str, Any], model_label: str, *, collection: str) -> None:
    """Refuse a query encoder other than the recorded one."""
    was = str((recorded.get("query") or {}).get("model", ""))
    if was and was != model_label:
        raise FingerprintMismatchError(
            f"collection {collection!r} was built for query encoder {was!r}, not {model_label!r}; "
            "omit the query model to use the recorded one, or pass allow_model_mismatch=True "
            "(--allow-model-mismatch) if the model only moved"
        )
