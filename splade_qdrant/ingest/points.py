"""Point ids, content hashes and payloads: what a stored point looks like (no store, no model).

Point ids are ``uuid5(ID_NAMESPACE, document id)`` — deterministic, so re-ingesting the same
documents replaces rather than duplicates them; a chunk (``long_docs="chunk"``) uses
``"<document id>#<chunk index>"``. The payload carries ``doc_id`` (the original id),
``content_hash`` (of the encoded text, and of the caller's ``dense_vector`` when one is given),
the document's other fields and, optionally, the ``text``.

Example:
    >>> point_id("doc-1")
    '65d10a98-cbda-5820-b0ff-84293cb9ea0b'
    >>> point_id("doc-1", 0) == point_id("doc-1#0")
    True
    >>> from splade_qdrant.documents import Document
    >>> p = make_payload(Document("1", "Wings lift", {"lang": "en"}), "h", store_text=False)
    >>> p
    {'doc_id': '1', 'content_hash': 'h', 'lang': 'en'}
    >>> same_payload({**p, "n": 0.1 + 0.2}, json_normalised({**p, "n": 0.30000000000000004}))
    True
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import numpy as np

from ..documents import Document, content_hash

__all__ = ["ID_NAMESPACE", "content_hash", "document_hash", "json_normalised", "make_payload", "point_id", "same_payload"]

#: Namespace of the deterministic point ids.
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://pypi.org/project/splade-qdrant/")

#: Qdrant Edge hands payload floats back within a few ulps (its JSON number parsing).
_FLOAT_REL_TOL = 1e-12


def point_id(doc_id: str, chunk: int | None = None) -> str:
    """The deterministic Qdrant point id (a UUID string) of a document id, or of one of its
    chunks (``long_docs="chunk"``: ``uuid5("<doc id>#<chunk index>")``)."""
    key = str(doc_id) if chunk is None else f"{doc_id}#{int(chunk)}"
    return str(uuid.uuid5(ID_NAMESPACE, key))


def document_hash(doc: Document, dense: np.ndarray | None = None) -> str:
    """The ``content_hash`` of a document: its encoded text, plus the caller's dense vector if given."""
    return content_hash(doc.text) if dense is None else content_hash(doc.text, extra=np.asarray(dense, dtype=np.float32).tobytes())


def make_payload(doc: Document, digest: str, store_text: bool) -> dict[str, Any]:
    """The payload of a whole document: ``doc_id``, ``content_hash``, its metadata and maybe ``text``."""
    payload: dict[str, Any] = {"doc_id": doc.id, "content_hash": digest, **doc.metadata}
    if store_text:
        payload["text"] = doc.text
    return payload


def json_normalised(value: Any) -> Any:
    """``value`` as it reads back from a store (tuples become lists, …)."""
    return json.loads(json.dumps(value))


def same_payload(stored: Any, wanted: Any) -> bool:
    """``stored`` (as read back) equals ``wanted`` (JSON-normalised), floats within a few ulps."""
    if isinstance(stored, float) or isinstance(wanted, float):
        return (
            isinstance(stored, (int, float)) and isinstance(wanted, (int, float))
            and not isinstance(stored, bool) and not isinstance(wanted, bool)
            and math.isclose(stored, wanted, rel_tol=_FLOAT_REL_TOL)
        )
    if isinstance(stored, dict) and isinstance(wanted, dict):
        return stored.keys() == wanted.keys() and all(same_payload(stored[k], wanted[k]) for k in wanted)
    if isinstance(stored, list) and isinstance(wanted, list):
        return len(stored) == len(wanted) and all(same_payload(a, b) for a, b in zip(stored, wanted))
    return type(stored) is type(wanted) and stored == wanted
