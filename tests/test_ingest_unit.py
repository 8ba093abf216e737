"""ingest() and Searcher with the tiny random model (no model files), on both backends where
the call path allows it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from splade_qdrant.documents import content_hash
from splade_qdrant.encoder import MaskedLM, SpladeEncoder
from splade_qdrant.errors import ConfigError, FingerprintMismatchError, InputError
from splade_qdrant.ingest import ingest, point_id
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher
from splade_qdrant.store import open_store
from splade_qdrant.store.base import Store

DOCS: list[Any] = [
    {"id": "a", "title": "Wing", "text": "flow over a wing", "lang": "en"},
    ("b", "lift and drag of a body"),
    ("c", "heat transfer in a boundary layer", {"lang": "fr"}),
    {"_id": "d", "text": ""},
    {"id": 5, "text": "shock wave pressure at high mach number"},
]


@pytest.fixture(scope="module")
def pair(tiny_mlm: MaskedLM) -> EncoderPair:
    return EncoderPair(SpladeEncoder(tiny_mlm, max_length=16), SpladeEncoder(tiny_mlm, max_length=8))


@pytest.fixture(params=["edge", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "store") if request.param == "edge" else open_store(":memory:")
    yield s
    s.close()


def stored(store: Store, doc_id: str) -> Any:
    (p,) = store.retrieve("t", [point_id(doc_id)], with_vectors=True)
    return p


def test_point_ids_are_deterministic_uuids() -> None:
    assert point_id("doc-1") == point_id("doc-1")
    assert point_id("doc-1") != point_id("doc-2")
    assert len(point_id("x")) == 36 and point_id("x").count("-") == 4


def test_ingest_writes_points_with_payload(store: Store, pair: EncoderPair) -> None:
    report = ingest(store, "t", DOCS, pair=pair, show_progress=False, store_text=True)
    assert (report.documents, report.points_written, report.points_in_collection) == (5, 5, 5)
    assert report.empty_texts == 1
    a = stored(store, "a")
    assert a.payload == {"doc_id": "a", "content_hash": content_hash("Wing flow over a wing"), "title": "Wing",
                         "lang": "en", "text": "Wing flow over a wing"}
    assert stored(store, "5").payload["doc_id"] == "5"
    vocab = pair.document.mlm.vocab_size
    want = pair.document.encode(["Wing flow over a wing", ""])
    for doc_id, vec in zip(["a", "d"], want):
        np.testing.assert_allclose(stored(store, doc_id).sparse.to_dense(vocab), vec.to_dense(vocab), atol=1e-5, rtol=0)
    assert report.as_dict()["points_written"] == 5
    assert "5 points in the collection" in report.summary()


def test_reingest_changed_unchanged_insert_only(store: Store, pair: EncoderPair) -> None:
    ingest(store, "t", DOCS, pair=pair, show_progress=False)
    changed = [{"id": "a", "text": "jet stream"}, ("b", "lift and drag of a body"), ("new", "laminar flow")]
    report = ingest(store, "t", changed, pair=pair, show_progress=False)
    assert (report.points_written, report.skipped_unchanged) == (2, 1)
    assert store.count("t") == 6
    assert stored(store, "a").payload["content_hash"] == content_hash("jet stream")
    report = ingest(store, "t", [("a", "something else"), ("z", "data")], pair=pair, insert_only=True, show_progress=False)
    assert (report.points_written, report.skipped_existing) == (1, 1)
    assert stored(store, "a").payload["content_hash"] == content_hash("jet stream")
    report = ingest(store, "t", [("b", "lift and drag of a body")], pair=pair, skip_unchanged=False, show_progress=False)
    assert report.points_written == 1 and report.skipped_unchanged == 0


def test_skip_bad_and_stop_on_bad(store: Store, pair: EncoderPair) -> None:
    report = ingest(store, "t", [("a", "wing"), {"text": "no id"}, ("b", "flow")], pair=pair, skip_bad=True, show_progress=False)
    assert report.points_written == 2
    assert len(report.bad) == 1 and report.bad[0].line == 2
    with pytest.raises(InputError, match="<iterable>:2"):
        ingest(store, "u", [("a", "wing"), ("a", "again")], pair=pair, show_progress=False)


def test_dense_vector_without_dense_side_is_input_error(store: Store, pair: EncoderPair) -> None:
    with pytest.raises(InputError, match="dense"):
        ingest(store, "t", [{"id": "a", "text": "wing", "dense_vector": [0.1, 0.2]}], pair=pair, show_progress=False)


def test_other_document_encoder_is_refused(store: Store, pair: EncoderPair) -> None:
    ingest(store, "t", DOCS[:2], pair=pair, show_progress=False)
    other = EncoderPair(SpladeEncoder(pair.document.mlm, max_length=16, top_k=4), pair.query)
    with pytest.raises(FingerprintMismatchError, match="top_k"):
        ingest(store, "t", DOCS[2:], pair=other, show_progress=False)
    assert store.count("t") == 2


@pytest.mark.parametrize("option", [{"chunk_size": 0}, {"upsert_batch": 0}])
def test_bad_ingest_options(store: Store, pair: EncoderPair, option: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        ingest(store, "t", DOCS, pair=pair, show_progress=False, **option)


def test_search_scores_are_exact_dot_products(tmp_path: Path, pair: EncoderPair) -> None:
    with open_store(tmp_path / "s") as store:
        ingest(store, "t", DOCS, pair=pair, show_progress=False)
        searcher = Searcher(store, "t", query_encoder=pair.query)
        query = "wing flow and lift"
        hits = searcher.search(query, limit=10)
        (qv,) = pair.query.encode([query])
        docs = {p.payload["doc_id"]: p.sparse for p in store.retrieve("t", [point_id(d) for d in "abcd5"], with_vectors=True)}
        exact = sorted(((d, qv.dot(v)) for d, v in docs.items() if qv.dot(v) > 0), key=lambda x: -x[1])
        assert [h.id for h in hits] == [d for d, _ in exact]
        assert [h.score for h in hits] == pytest.approx([s for _, s in exact], abs=1e-5)
        assert searcher.search_batch([], limit=3) == []
        with pytest.raises(InputError, match="list of query strings"):  # the project's error, saying what is expected
            searcher.search_batch(query, limit=3)  # type: ignore[arg-type]
        with pytest.raises(ConfigError):
            searcher.search(query, limit=0)
        with pytest.raises(ConfigError):
            searcher.search(query, mode="dense")  # no dense vectors in this collection
