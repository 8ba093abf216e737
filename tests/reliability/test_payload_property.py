"""Property: any JSON-able document round-trips into Document.metadata (every field but the
id, the text and the dense vector), from Python and through a JSONL file, and the engine
hands the payload back unchanged."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splade_qdrant.documents import RESERVED_KEYS, _from_mapping, iter_documents
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store.base import CollectionSpec, PointRecord
from splade_qdrant.store.edge import EdgeStore

NOT_PAYLOAD = RESERVED_KEYS | {"_id", "id", "text", "title", "dense_vector"}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what Qdrant stores exactly
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=12).filter(lambda k: k not in NOT_PAYLOAD), json_values, max_size=6)
doc_ids = st.text(min_size=1, max_size=20) | st.integers()
titles = st.none() | st.text(max_size=20)


def _document(doc_id, text, title, extra):
    obj = {"_id": doc_id, "text": text, **extra}
    if title is not None:
        obj["title"] = title
    return obj


def _expected(text, title, extra):
    meta = dict(extra)
    if title is not None:
        meta["title"] = title
    full = f"{title.strip()} {text.strip()}" if title and title.strip() else text.strip()
    return full, meta


@given(doc_id=doc_ids, text=st.text(max_size=40), title=titles, extra=payloads)
def test_mapping_round_trips_into_metadata(doc_id, text, title, extra):
    doc = _from_mapping(_document(doc_id, text, title, extra), "<iterable>", 1)
    full, meta = _expected(text, title, extra)
    assert (doc.id, doc.text, doc.metadata) == (str(doc_id), full, meta)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(doc_id=doc_ids, text=st.text(max_size=40), title=titles, extra=payloads)
def test_jsonl_line_round_trips_into_metadata(doc_id, text, title, extra):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.jsonl"
        path.write_text(json.dumps(_document(doc_id, text, title, extra)) + "\n", encoding="utf-8")
        (doc,) = list(iter_documents(path))
    full, meta = _expected(text, title, extra)
    assert (doc.id, doc.text, doc.metadata) == (str(doc_id), full, meta)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    with EdgeStore(tmp_path_factory.mktemp("payload")) as store:
        store.create_collection("p", CollectionSpec())
        yield store


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(extra=payloads)
def test_engine_returns_the_payload_unchanged(edge, extra):
    doc = _from_mapping({"_id": "x", "text": "t", **extra}, "<iterable>", 1)
    pid = "00000000-0000-5000-8000-000000000001"
    edge.upsert("p", [PointRecord(pid, SparseVector.from_dict({1: 1.0}), doc.metadata)])
    (back,) = edge.retrieve("p", [pid])
    assert _same(back.payload, json.loads(json.dumps(doc.metadata)))


def _same(a, b):
    """Equal, except that Qdrant Edge hands floats back within a few ulps (its JSON parsing)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-14)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b
