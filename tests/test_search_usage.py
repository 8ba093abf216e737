"""What a new user hits when searching and managing collections (issue 16, items 1, 2, 7, 9-11, 13).

Fast tests: the tiny random BERT of conftest on both sides, a few documents, both backends.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from splade_qdrant.collection import SpladeQdrant
from splade_qdrant.encoder import SpladeEncoder
from splade_qdrant.errors import (
    CollectionNotFoundError,
    ConfigError,
    FingerprintMismatchError,
    InputError,
    SpladeQdrantError,
    StoreUnavailableError,
)
from splade_qdrant.ingest import ingest
from splade_qdrant.options import EncoderOptions
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher
from splade_qdrant.store import Store, open_store

DOCS = [
    {"_id": "1", "text": "wing flow lift", "year": 1960, "lang": "en"},
    {"_id": "2", "text": "boundary layer heat transfer", "year": 1961, "lang": "en"},
    {"_id": "abc", "text": "shock wave pressure", "year": 1960, "lang": "fr"},
    {"_id": "10", "text": "jet stream turbulent flow", "year": "1960", "lang": "en"},
]


def make_pair(mlm: Any, *, query_top_k: int | None = None, query_max_length: int = 16, long_docs: str = "truncate",
              doc_max_length: int = 32) -> EncoderPair:
    return EncoderPair(
        SpladeEncoder(mlm, max_length=doc_max_length, long_docs=long_docs),  # type: ignore[arg-type]
        SpladeEncoder(mlm, max_length=query_max_length, top_k=query_top_k, long_docs="truncate"),
    )


@pytest.fixture(params=["edge", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "store") if request.param == "edge" else open_store(":memory:")
    yield s
    s.close()


@pytest.fixture
def filled(store: Store, tiny_mlm: Any) -> tuple[Store, EncoderPair]:
    """A fresh collection "c" (query top_k 2 recorded) the test may change."""
    pair = make_pair(tiny_mlm, query_top_k=2)
    ingest(store, "c", DOCS, pair=pair, show_progress=False)
    return store, pair


@pytest.fixture(scope="module", params=["edge", "memory"])
def searched(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tiny_mlm: Any) -> Iterator[tuple[Store, EncoderPair]]:
    """The same collection, built once per backend, for tests that only search it."""
    s = open_store(tmp_path_factory.mktemp("usage") / "store") if request.param == "edge" else open_store(":memory:")
    pair = make_pair(tiny_mlm, query_top_k=2)
    ingest(s, "c", DOCS, pair=pair, show_progress=False)
    yield s, pair
    s.close()


@pytest.fixture(scope="module")
def searched_edge(tmp_path_factory: pytest.TempPathFactory, tiny_mlm: Any) -> Iterator[tuple[Store, EncoderPair]]:
    """One embedded collection for the argument checks (backend-independent)."""
    s = open_store(tmp_path_factory.mktemp("usage-edge") / "store")
    pair = make_pair(tiny_mlm, query_top_k=2)
    ingest(s, "c", DOCS, pair=pair, show_progress=False)
    yield s, pair
    s.close()


def ids(hits: list[Any]) -> set[str]:
    return {h.id for h in hits}


# --------------------------------------------------------------------------- 1: filters


def test_integer_doc_id_filter_finds_the_string_id(searched: tuple[Store, EncoderPair]) -> None:
    store, pair = searched
    s = Searcher(store, "c", query_encoder=pair.query)
    assert ids(s.search("wing flow", filter={"doc_id": 1})) == {"1"}
    assert ids(s.search("wing flow", filter={"doc_id": [1, "abc"]})) == {"1", "abc"}


def test_mixed_type_any_of_matches_both_types(searched: tuple[Store, EncoderPair]) -> None:
    store, pair = searched
    s = Searcher(store, "c", query_encoder=pair.query)
    # 1960 matches the integer years, "1960" the one document that stores it as a string.
    assert ids(s.search("flow", filter={"year": [1960, "1960"]}, limit=10)) == {"1", "abc", "10"}
    assert ids(s.search("flow", filter={"year": [1961, "x"]}, limit=10)) == {"2"}


# --------------------------------------------------------------------------- 2: recorded settings


def test_search_uses_the_recorded_query_settings(searched: tuple[Store, EncoderPair], tiny_mlm: Any) -> None:
    store, pair = searched
    assert store.metadata("c")["query"]["top_k"] == 2
    # A searcher that loads nothing itself but is given an encoder with other settings: refused.
    with pytest.raises(FingerprintMismatchError, match="top_k=2"):
        Searcher(store, "c", query_encoder=make_pair(tiny_mlm).query)
    with pytest.raises(FingerprintMismatchError, match="max_length=16"):
        Searcher(store, "c", query_encoder=make_pair(tiny_mlm, query_top_k=2, query_max_length=24).query)
    # The same encoder as recorded: results equal those right after ingest.
    hits = Searcher(store, "c", query_encoder=pair.query).search("wing flow lift")
    assert all(len(v.indices) <= 2 for v in pair.query.encode(["wing flow lift"]))
    assert hits


def test_explicit_query_option_that_differs_is_refused(searched: tuple[Store, EncoderPair]) -> None:
    store, _ = searched
    recorded = store.metadata("c")
    with pytest.raises(FingerprintMismatchError, match="max_length=16 .*not max_length=32"):
        EncoderOptions(query_max_length=32).query_settings(recorded)
    assert EncoderOptions().query_settings(recorded) == {"max_length": 16, "top_k": 2, "threshold": None}
    with pytest.raises(FingerprintMismatchError, match="top_k=2"):
        Searcher(store, "c", query_top_k=5)  # refused before any model is loaded


# --------------------------------------------------------------------------- 7: list, drop, delete


def test_facade_list_drop_delete(filled: tuple[Store, EncoderPair], tiny_mlm: Any) -> None:
    store, pair = filled
    ingest(store, "other", DOCS[:1], pair=pair, show_progress=False)
    sq = SpladeQdrant("c", store=store)
    assert sq.list_collections() == ["c", "other"]
    report = sq.delete(["1", "abc", "nope", 10])
    assert (report.requested, report.deleted, report.points_deleted, report.not_found) == (4, 3, 3, ["nope"])
    assert store.count("c") == 1
    assert "3 of 4 documents deleted" in report.summary() and "'nope'" in report.summary()
    SpladeQdrant("other", store=store).drop()
    assert sq.list_collections() == ["c"]
    with pytest.raises(CollectionNotFoundError):
        SpladeQdrant("other", store=store).drop()
    with pytest.raises(InputError):
        sq.delete("1")  # a string is not a list of ids


def test_delete_removes_every_window_of_a_chunked_document(store: Store, tiny_mlm: Any) -> None:
    pair = make_pair(tiny_mlm, long_docs="chunk", doc_max_length=8)
    long_text = " ".join(["wing flow lift drag air speed"] * 6)
    ingest(store, "ch", [{"_id": "long", "text": long_text}, {"_id": "short", "text": "wing"}], pair=pair, show_progress=False)
    windows = store.count("ch") - 1
    assert windows > 2
    report = SpladeQdrant("ch", store=store).delete(["long"])
    assert (report.deleted, report.points_deleted) == (1, windows)
    assert store.count("ch") == 1


# --------------------------------------------------------------------------- 9: close is final


def test_close_is_final(filled: tuple[Store, EncoderPair]) -> None:
    store, _ = filled
    sq = SpladeQdrant("c", store=store)
    assert sq.info()["points"] == len(DOCS)
    sq.close()
    sq.close()  # idempotent
    for call in (lambda: sq.search("wing"), lambda: sq.info(), lambda: sq.list_collections(), lambda: sq.delete(["1"]),
                 lambda: sq.ingest(DOCS)):
        with pytest.raises(StoreUnavailableError, match="closed"):
            call()


# --------------------------------------------------------------------------- 10, 11: errors, not tracebacks


@pytest.mark.parametrize(("options", "needle"), [
    ({"limit": "5"}, r"limit must be an integer in \[1, 1000000\], got .5."),
    ({"limit": 0}, "limit must be"),
    ({"limit": 2**63}, "limit must be an integer"),
    ({"offset": 2**63}, "offset must be an integer"),
    ({"offset": -1}, "offset must be"),
    ({"rrf_k": -60, "mode": "sparse"}, "rrf_k must be an integer"),
    ({"score_threshold": math.nan}, "score_threshold must be a finite number"),
    ({"score_threshold": "0.5"}, "score_threshold must be a finite number"),
    ({"weights": [0, 0]}, "weights must not all be 0"),
    ({"weights": [math.nan, 1]}, "each weight must be a finite number"),
    ({"weights": [-1, 1]}, "each weight must be a finite number >= 0"),
    ({"weights": [1, 1, 1]}, "two numbers"),
    ({"prefetch_limit": 0}, "prefetch_limit"),
])
def test_bad_search_options_raise_config_errors(searched_edge: tuple[Store, EncoderPair], options: dict[str, Any], needle: str) -> None:
    store, pair = searched_edge
    s = Searcher(store, "c", query_encoder=pair.query)
    with pytest.raises(ConfigError, match=needle):
        s.search("wing", **options)


@pytest.mark.parametrize("query", [None, 123, b"wing", ["wing"]])
def test_non_string_query_is_an_input_error(searched_edge: tuple[Store, EncoderPair], query: Any) -> None:
    store, pair = searched_edge
    s = Searcher(store, "c", query_encoder=pair.query)
    with pytest.raises(InputError, match="query must be a string"):
        s.search(query)
    with pytest.raises(InputError, match="query must be a string"):
        SpladeQdrant("c", store=store).search(query)
    with pytest.raises(InputError, match="query 1 must be a string"):
        s.search_batch(["wing", query])


@pytest.mark.parametrize("documents", [None, {"_id": "1", "text": "wing"}, 5, b"corpus.jsonl"])
def test_ingest_of_a_non_corpus_says_what_is_expected(store: Store, documents: Any) -> None:
    sq = SpladeQdrant("c", store=store)
    with pytest.raises(InputError, match="documents must be a path to a JSONL corpus or an iterable"):
        sq.ingest(documents)
    assert not store.collection_exists("c")


@pytest.mark.parametrize(("options", "needle"), [
    ({"batch_size": 0}, "batch_size"),
    ({"doc_max_length": "256"}, "doc_max_length must be an integer"),
    ({"long_docs": "paragraph"}, "long_docs must be one of"),
    ({"device": "gpu"}, "device must be cpu, cuda, cuda:N or mps"),
    ({"query_threshold": math.nan}, "query_threshold"),
    ({"doc_top_k": 0}, "doc_top_k"),
])
def test_bad_encoder_options_fail_at_construction(store: Store, options: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        SpladeQdrant("c", store=store, **options)


def test_options_object_or_individual_options_not_both(store: Store) -> None:
    opts = EncoderOptions(doc_max_length=128)
    assert SpladeQdrant("c", store=store, options=opts).options is opts
    with pytest.raises(ConfigError, match="not both"):
        SpladeQdrant("c", store=store, options=opts, doc_max_length=64)


# --------------------------------------------------------------------------- 13: empty and long queries


@pytest.mark.parametrize("query", ["", "   ", "?!", " ... ,; "])
def test_query_without_letters_or_digits_returns_nothing_with_a_warning(
    searched_edge: tuple[Store, EncoderPair], caplog: pytest.LogCaptureFixture, query: str
) -> None:
    store, pair = searched_edge
    s = Searcher(store, "c", query_encoder=pair.query)
    with caplog.at_level(logging.WARNING, logger="splade_qdrant.search"):
        assert s.search(query) == []
        batch = s.search_batch([query, "wing flow"])
    assert batch[0] == [] and batch[1]
    assert "no letters or digits" in caplog.text


def test_long_query_warns_it_was_truncated(searched_edge: tuple[Store, EncoderPair], caplog: pytest.LogCaptureFixture) -> None:
    store, pair = searched_edge
    s = Searcher(store, "c", query_encoder=pair.query)
    with caplog.at_level(logging.WARNING, logger="splade_qdrant.search"):
        s.search("wing flow")
        assert "truncated" not in caplog.text
        s.search(" ".join(["wing flow lift drag"] * 10))
    assert "truncated" in caplog.text and "16 tokens" in caplog.text


def test_every_error_here_is_a_project_error() -> None:
    for err in (ConfigError, InputError, FingerprintMismatchError, StoreUnavailableError, CollectionNotFoundError):
        assert issubclass(err, SpladeQdrantError)


# --------------------------------------------------------------------------- 8: models identified by content


def test_models_compare_by_digest_and_old_fingerprints_by_path() -> None:
    from splade_qdrant.fingerprint import check_documents, check_query_model, same_model

    moved = {"model": "/new/place", "model_sha256": "abc", "max_length": 256}
    assert same_model({"model": "/old/place", "model_sha256": "abc"}, moved)
    assert not same_model({"model": "/old/place", "model_sha256": "def"}, moved)
    check_documents({"document": {"model": "/old/place", "model_sha256": "abc", "max_length": 256}}, moved, collection="c")
    # A collection recorded before digests existed: compared by path, as before.
    check_documents({"document": {"model": "/new/place", "max_length": 256}}, moved, collection="c")
    with pytest.raises(FingerprintMismatchError, match="model='/old/place'"):
        check_documents({"document": {"model": "/old/place", "max_length": 256}}, moved, collection="c")
    with pytest.raises(FingerprintMismatchError, match="was built for query encoder"):
        check_query_model({"query": {"model": "/old/place", "model_sha256": "def"}}, moved, collection="c")


def test_model_digest_ignores_where_the_model_lies(tmp_path: Path, tiny_model_dir: Path) -> None:
    import shutil

    from splade_qdrant.models import locate, model_digest

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    original = model_digest(locate(str(tiny_model_dir), side="query"))
    assert original is not None and len(original) == 64
    assert model_digest(locate(str(copy), side="document")) == original
    (copy / "config.json").chmod(0o644)
    (copy / "config.json").write_text((tiny_model_dir / "config.json").read_text().replace("}", ', "extra_field": 1}', 1))
    assert model_digest(locate(str(copy), side="query")) != original
