"""The Store interface, run identically on every backend (congruence style).

``edge``: the embedded Qdrant Edge engine in a temporary directory; ``memory``: qdrant-client's
in-process ``:memory:`` mode. Every test in the first part runs on both and must pass on both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from splade_qdrant.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    ConfigError,
    StoreError,
    StoreUnavailableError,
)
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store import ServerOptions, open_store, parse_index_field
from splade_qdrant.store.base import (
    CollectionSpec,
    DenseQuery,
    DenseSpec,
    FusedQuery,
    PointRecord,
    SparseQuery,
    Store,
    StoredPoint,
)
from splade_qdrant.store.edge import EdgeStore
from splade_qdrant.store.remote import RemoteStore

#: (doc id, sparse weights, dense vector, payload extras); weights are exact in float32.
POINTS: list[tuple[str, dict[int, float], list[float], dict[str, Any]]] = [
    ("d0", {1: 1.0, 2: 0.5}, [1.0, 0.0, 0.0], {"lang": "en", "year": 2020}),
    ("d1", {1: 2.0}, [0.0, 1.0, 0.0], {"lang": "fr", "year": 2021}),
    ("d2", {2: 0.25, 3: 4.0}, [0.0, 0.0, 1.0], {"lang": "en", "year": 2022}),
    ("d3", {3: 1.0}, [1.0, 1.0, 0.0], {"lang": "de", "year": 2020}),
    ("d4", {7: 1.0}, [0.5, 0.5, 0.5], {"lang": "en", "year": 2023}),
]
QUERY = SparseVector.from_dict({1: 1.0, 2: 1.0, 3: 0.5})
#: Exact dot products with QUERY, best first (d4 shares no term with it).
EXPECTED = [("d2", 2.25), ("d1", 2.0), ("d0", 1.5), ("d3", 0.5)]
DENSE_QUERY = np.array([1.0, 0.5, 0.25], dtype=np.float32)
EXPECTED_DENSE = [("d3", 1.5), ("d0", 1.0), ("d4", 0.875), ("d1", 0.5), ("d2", 0.25)]


def pid(doc_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"splade-qdrant-tests/{doc_id}"))


def records(dense: bool = False) -> list[PointRecord]:
    return [
        PointRecord(pid(d), SparseVector.from_dict(w), {"doc_id": d, **extra}, np.array(v, dtype=np.float32) if dense else None)
        for d, w, v, extra in POINTS
    ]


def ranked(points: list[StoredPoint]) -> list[tuple[str, float]]:
    return [(p.payload["doc_id"], pytest.approx(p.score, abs=1e-6)) for p in points]


def open_backend(kind: str, root: Path) -> Store:
    if kind == "server":
        return open_store(url=os.environ["QDRANT_URL"])
    return open_store(root / "store") if kind == "edge" else open_store(":memory:")


@pytest.fixture(params=["edge", "memory", pytest.param("server", marks=pytest.mark.server)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each backend; ``server`` runs against an empty, disposable Qdrant at QDRANT_URL (skipped without it)."""
    if request.param == "server" and not os.environ.get("QDRANT_URL"):
        pytest.skip("set QDRANT_URL to an empty, disposable Qdrant server to run the congruence tests against it")
    s = open_backend(request.param, tmp_path)
    if request.param == "server" and s.list_collections():
        s.close()
        pytest.skip("the server at QDRANT_URL has collections; the congruence tests need an empty one")
    yield s
    if request.param == "server":
        for name in s.list_collections():
            s.delete_collection(name)
    s.close()


@pytest.fixture
def filled(store: Store) -> Store:
    store.create_collection("c", CollectionSpec(metadata={"who": "test"}))
    store.upsert("c", records())
    return store


def sparse_q(vec: SparseVector = QUERY) -> SparseQuery:
    return SparseQuery(vec, "splade")


# --------------------------------------------------------------------------- collections


def test_backend_kinds(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path / "s"), EdgeStore) and open_store(tmp_path / "s").kind == "edge"
    mem = open_store(":memory:")
    assert isinstance(mem, RemoteStore) and mem.kind == "qdrant-client"


def test_create_exists_list_delete(store: Store) -> None:
    assert store.list_collections() == []
    assert not store.collection_exists("a")
    store.create_collection("b", CollectionSpec())
    store.create_collection("a", CollectionSpec())
    assert store.collection_exists("a") and store.collection_exists("b")
    assert store.list_collections() == ["a", "b"]
    assert store.count("a") == 0
    store.delete_collection("a")
    assert not store.collection_exists("a")
    assert store.list_collections() == ["b"]
    assert isinstance(store.describe(), str) and store.describe()


def test_create_twice_raises(store: Store) -> None:
    store.create_collection("a", CollectionSpec())
    with pytest.raises(CollectionExistsError, match="'a'"):
        store.create_collection("a", CollectionSpec())


@pytest.mark.parametrize("call", ["delete", "metadata", "spec", "count", "query", "retrieve", "upsert"])
def test_missing_collection_raises_not_found(store: Store, call: str) -> None:
    actions = {
        "delete": lambda: store.delete_collection("nope"),
        "metadata": lambda: store.metadata("nope"),
        "spec": lambda: store.spec("nope"),
        "count": lambda: store.count("nope"),
        "query": lambda: store.query("nope", sparse_q(), limit=3),
        "retrieve": lambda: store.retrieve("nope", [pid("d0")]),
        "upsert": lambda: store.upsert("nope", records()[:1]),
    }
    with pytest.raises(CollectionNotFoundError) as info:
        actions[call]()
    assert "'nope'" in str(info.value)
    assert isinstance(info.value, StoreError)


def test_metadata_and_spec_round_trip(store: Store) -> None:
    meta = {"library": "splade_qdrant", "document": {"model": "m", "max_length": 256, "top_k": None}, "list": [1, 2.5, "x"]}
    spec = CollectionSpec(sparse_name="sp", sparse_datatype="float16", dense=DenseSpec("dv", 3, "dot"), metadata=meta)
    store.create_collection("m", spec)
    assert store.metadata("m") == meta
    got = store.spec("m")
    assert (got.sparse_name, got.sparse_datatype, got.idf, got.dense) == ("sp", "float16", False, DenseSpec("dv", 3, "dot"))
    assert dict(got.metadata) == meta
    store.set_metadata("m", {"replaced": True})
    assert store.metadata("m") == {"replaced": True}
    assert store.spec("m").sparse_name == "sp"  # the vector configuration is kept


# --------------------------------------------------------------------------- points


def test_upsert_count_retrieve_with_vectors(filled: Store) -> None:
    assert filled.count("c") == len(POINTS)
    ids = [pid("d2"), pid("d0"), pid("missing")]
    got = {p.payload["doc_id"]: p for p in filled.retrieve("c", ids, with_vectors=True)}
    assert set(got) == {"d0", "d2"}  # missing ids are skipped
    d2 = got["d2"]
    assert d2.id == pid("d2")
    assert d2.score == 0.0
    assert d2.payload == {"doc_id": "d2", "lang": "en", "year": 2022}
    assert d2.sparse == SparseVector.from_dict({2: 0.25, 3: 4.0})
    plain = filled.retrieve("c", [pid("d2")])
    assert plain[0].sparse is None
    assert filled.retrieve("c", []) == []


def test_upsert_replaces_by_id(filled: Store) -> None:
    filled.upsert("c", [PointRecord(pid("d1"), SparseVector.from_dict({9: 3.0}), {"doc_id": "d1", "v": 2})])
    assert filled.count("c") == len(POINTS)
    (p,) = filled.retrieve("c", [pid("d1")], with_vectors=True)
    assert p.payload == {"doc_id": "d1", "v": 2}
    assert p.sparse == SparseVector.from_dict({9: 3.0})
    hits = filled.query("c", sparse_q(SparseVector.from_dict({9: 1.0})), limit=5)
    assert ranked(hits) == [("d1", 3.0)]


def test_insert_only_keeps_old_point(filled: Store) -> None:
    new = [
        PointRecord(pid("d1"), SparseVector.from_dict({9: 3.0}), {"doc_id": "d1", "v": "new"}),
        PointRecord(pid("d9"), SparseVector.from_dict({9: 1.0}), {"doc_id": "d9"}),
    ]
    filled.upsert("c", new, insert_only=True)
    assert filled.count("c") == len(POINTS) + 1
    (old,) = filled.retrieve("c", [pid("d1")], with_vectors=True)
    assert old.payload == {"doc_id": "d1", "lang": "fr", "year": 2021}
    assert old.sparse == SparseVector.from_dict({1: 2.0})
    assert [p.payload["doc_id"] for p in filled.retrieve("c", [pid("d9")])] == ["d9"]


def test_upsert_nothing_is_a_no_op(filled: Store) -> None:
    filled.upsert("c", [])
    assert filled.count("c") == len(POINTS)


def test_delete_removes_points_and_ignores_missing(filled: Store) -> None:
    gone = [pid(POINTS[0][0]), pid(POINTS[1][0])]
    filled.delete("c", [*gone, pid("never-stored")])
    assert filled.count("c") == len(POINTS) - 2
    assert filled.retrieve("c", gone) == []
    assert len(filled.retrieve("c", [pid(d) for d, *_ in POINTS])) == len(POINTS) - 2
    filled.delete("c", [])
    assert filled.count("c") == len(POINTS) - 2


# --------------------------------------------------------------------------- queries


def test_query_exact_scores_best_first(filled: Store) -> None:
    hits = filled.query("c", sparse_q(), limit=10)
    assert ranked(hits) == EXPECTED
    assert hits[0].id == pid("d2") and hits[0].payload["lang"] == "en"
    assert ranked(filled.query("c", sparse_q(), limit=2)) == EXPECTED[:2]


def test_query_with_vectors(filled: Store) -> None:
    (top,) = filled.query("c", sparse_q(), limit=1, with_vectors=True)
    assert top.sparse == SparseVector.from_dict({2: 0.25, 3: 4.0})


def test_offset_and_score_threshold(filled: Store) -> None:
    assert ranked(filled.query("c", sparse_q(), limit=2, offset=1)) == EXPECTED[1:3]
    assert ranked(filled.query("c", sparse_q(), limit=10, offset=3)) == EXPECTED[3:]
    assert ranked(filled.query("c", sparse_q(), limit=10, score_threshold=1.4)) == EXPECTED[:3]
    assert ranked(filled.query("c", sparse_q(), limit=10, score_threshold=2.1)) == EXPECTED[:1]
    assert filled.query("c", sparse_q(), limit=10, score_threshold=5.0) == []


@pytest.mark.parametrize(
    ("filt", "expected_ids"),
    [
        ({"lang": "en"}, ["d2", "d0"]),
        ({"lang": ["fr", "de"]}, ["d1", "d3"]),
        ({"year": 2020}, ["d0", "d3"]),
        ({"year": [2021, 2022]}, ["d2", "d1"]),
        ({"lang": "en", "year": [2020, 2023]}, ["d0"]),
        ({"doc_id": ("d3", "d1")}, ["d1", "d3"]),
        ({"lang": "xx"}, []),
        ({}, ["d2", "d1", "d0", "d3"]),
    ],
)
def test_simple_filters(filled: Store, filt: dict[str, Any], expected_ids: list[str]) -> None:
    hits = filled.query("c", sparse_q(), limit=10, filter=filt)
    assert [p.payload["doc_id"] for p in hits] == expected_ids
    expected_scores = dict(EXPECTED)
    assert all(p.score == pytest.approx(expected_scores[p.payload["doc_id"]]) for p in hits)


def native_filter(store: Store, key: str, value: Any) -> Any:
    if isinstance(store, EdgeStore):
        import qdrant_edge as qe

        match = qe.MatchAny(any=value) if isinstance(value, list) else qe.MatchValue(value=value)
        return qe.Filter(must=[qe.FieldCondition(key=key, match=match)])
    from qdrant_client import models

    match = models.MatchAny(any=value) if isinstance(value, list) else models.MatchValue(value=value)
    return models.Filter(must=[models.FieldCondition(key=key, match=match)])


def test_native_filters(filled: Store) -> None:
    hits = filled.query("c", sparse_q(), limit=10, filter=native_filter(filled, "lang", "en"))
    assert [p.payload["doc_id"] for p in hits] == ["d2", "d0"]
    hits = filled.query("c", sparse_q(), limit=10, filter=native_filter(filled, "year", [2020, 2021]))
    assert [p.payload["doc_id"] for p in hits] == ["d1", "d0", "d3"]


def test_other_backends_native_filter_is_refused(filled: Store) -> None:
    """A qdrant-client Filter on Edge (and vice versa) is a ConfigError, not a crash."""
    if isinstance(filled, EdgeStore):
        from qdrant_client import models

        foreign: Any = models.Filter(must=[])
    else:
        import qdrant_edge as qe

        foreign = qe.Filter(must=[])
    with pytest.raises(ConfigError):
        filled.query("c", sparse_q(), limit=3, filter=foreign)


@pytest.mark.parametrize(
    "bad",
    [42, "lang=en", ["lang", "en"], {"lang": 1.5}, {"lang": []}, {"lang": [1.5]}, {"lang": None}, {"": "x"}, {3: "x"}],
)
def test_wrong_filter_raises_config_error(filled: Store, bad: Any) -> None:
    with pytest.raises(ConfigError):
        filled.query("c", sparse_q(), limit=3, filter=bad)


def test_query_batch_empty(filled: Store) -> None:
    assert filled.query_batch("c", [], limit=3) == []


def test_query_batch_equals_single_queries(filled: Store) -> None:
    other = SparseVector.from_dict({7: 2.0, 1: 0.5})
    batch = filled.query_batch("c", [sparse_q(), sparse_q(other)], limit=3, filter={"lang": ["en", "fr"]})
    singles = [filled.query("c", sparse_q(q), limit=3, filter={"lang": ["en", "fr"]}) for q in (QUERY, other)]
    assert [ranked(r) for r in batch] == [ranked(r) for r in singles]
    assert ranked(batch[1]) == [("d4", 2.0), ("d1", 1.0), ("d0", 0.5)]


def test_dense_and_fused_queries(store: Store) -> None:
    store.create_collection("h", CollectionSpec(dense=DenseSpec("dense", 3, "dot")))
    store.upsert("h", records(dense=True))
    dq = DenseQuery(DENSE_QUERY, "dense")
    assert ranked(store.query("h", dq, limit=10)) == EXPECTED_DENSE
    # RRF in the engine: Σ 1 / (k + rank), rank from 0, over each side's list
    k = 61
    sparse_rank = {d: r for r, (d, _) in enumerate(EXPECTED)}
    dense_rank = {d: r for r, (d, _) in enumerate(EXPECTED_DENSE)}
    fused = {d: sum(1.0 / (k + ranks[d]) for ranks in (sparse_rank, dense_rank) if d in ranks) for d in dense_rank}
    expected = sorted(fused.items(), key=lambda item: -item[1])
    hits = store.query("h", FusedQuery([sparse_q(), dq], "rrf", prefetch_limit=10, k=k), limit=10)
    assert [p.payload["doc_id"] for p in hits] == [d for d, _ in expected]
    assert [p.score for p in hits] == pytest.approx([s for _, s in expected], abs=1e-6)


def test_dense_vector_without_dense_spec_is_config_error(store: Store) -> None:
    store.create_collection("s", CollectionSpec())
    with pytest.raises(ConfigError, match="dense"):
        store.upsert("s", records(dense=True)[:1])


def test_context_manager_closes(tmp_path: Path) -> None:
    with open_store(tmp_path / "cm") as s:
        s.create_collection("a", CollectionSpec())
    with open_store(tmp_path / "cm") as s:
        assert s.list_collections() == ["a"]


# --------------------------------------------------------------------------- backend specifics


def test_open_store_store_and_url_together_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        open_store(tmp_path, url="http://localhost:6333")


def test_remote_store_needs_exactly_one_location() -> None:
    with pytest.raises(ConfigError):
        RemoteStore()
    with pytest.raises(ConfigError):
        RemoteStore(location=":memory:", url="http://localhost:6333")


@pytest.mark.parametrize("name", ["", "../escape", "a/b", "-leading", "has space"])
def test_edge_rejects_unsafe_collection_names(tmp_path: Path, name: str) -> None:
    with EdgeStore(tmp_path) as s:
        with pytest.raises(ConfigError, match="collection name"):
            s.create_collection(name, CollectionSpec())
    assert not (tmp_path.parent / "escape").exists()


def test_edge_path_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreUnavailableError, match="not a directory"):
        EdgeStore(f)


def test_edge_data_survives_reopen(tmp_path: Path) -> None:
    s = EdgeStore(tmp_path / "s")
    s.create_collection("c", CollectionSpec(metadata={"k": "v"}))
    s.upsert("c", records())
    s.close()
    s2 = EdgeStore(tmp_path / "s")
    try:
        assert s2.count("c") == len(POINTS)
        assert s2.metadata("c") == {"k": "v"}
        assert ranked(s2.query("c", sparse_q(), limit=10)) == EXPECTED
    finally:
        s2.close()

_SECOND_PROCESS = """
import sys
from splade_qdrant.errors import StoreUnavailableError
from splade_qdrant.store.edge import EdgeStore
s = EdgeStore(sys.argv[1])
try:
    print("COUNT", s.count("c"))
except StoreUnavailableError as exc:
    print("UNAVAILABLE", exc)
    sys.exit(3)
finally:
    s.close()
"""


def _second_process(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SECOND_PROCESS, str(path)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow  # two real subprocesses
def test_edge_second_process_is_refused_while_open(tmp_path: Path) -> None:
    s = EdgeStore(tmp_path / "s")
    s.create_collection("c", CollectionSpec())
    s.upsert("c", records())
    try:
        run = _second_process(tmp_path / "s")
        assert run.returncode == 3, run.stdout + run.stderr
        assert "UNAVAILABLE" in run.stdout
        assert "in use by another process" in run.stdout
        assert "Traceback" not in run.stderr
        assert s.count("c") == len(POINTS)  # the owner is unaffected
    finally:
        s.close()
    run = _second_process(tmp_path / "s")  # after close the lock is gone
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"COUNT {len(POINTS)}" in run.stdout


# --------------------------------------------------------------------------- scroll, indexes, options


def test_scroll_pages_every_point_once_in_id_order(filled: Store) -> None:
    seen: list[StoredPoint] = []
    offset = None
    pages = 0
    while True:
        page, offset = filled.scroll("c", limit=2, offset=offset)
        seen.extend(page)
        pages += 1
        if offset is None:
            break
    assert pages == 3
    assert [p.id for p in seen] == sorted((pid(d) for d, *_ in POINTS), key=uuid.UUID)
    by_doc = {p.payload["doc_id"]: p for p in seen}
    for doc_id, weights, _, extra in POINTS:
        assert by_doc[doc_id].sparse == SparseVector.from_dict(weights)
        assert by_doc[doc_id].payload == {"doc_id": doc_id, **extra}
    plain, nxt = filled.scroll("c", limit=10, with_vectors=False)
    assert nxt is None and len(plain) == len(POINTS) and plain[0].sparse is None
    assert [p.id for p in filled.iter_points("c", batch_size=2)] == [p.id for p in seen]
    with pytest.raises(ConfigError):
        filled.scroll("c", limit=0)
    with pytest.raises(CollectionNotFoundError):
        filled.scroll("nope", limit=2)


def test_scroll_carries_dense_vectors(store: Store) -> None:
    store.create_collection("h", CollectionSpec(dense=DenseSpec("dense", 3, "dot")))
    store.upsert("h", records(dense=True))
    page, _ = store.scroll("h", limit=10)
    got = {p.payload["doc_id"]: p.dense for p in page}
    for doc_id, _, vector, _ in POINTS:
        assert got[doc_id] is not None and got[doc_id].tolist() == vector


def test_payload_indexes_round_trip(store: Store) -> None:
    store.create_collection("i", CollectionSpec(payload_indexes={"year": "integer", "lang": "keyword"}))
    assert dict(store.spec("i").payload_indexes) == {"year": "integer", "lang": "keyword"}
    store.create_index("i", "score", "float")
    store.create_index("i", "lang", "keyword")  # again: no error
    assert dict(store.spec("i").payload_indexes) == {"year": "integer", "lang": "keyword", "score": "float"}
    store.upsert("i", records())
    assert [p.payload["doc_id"] for p in store.query("i", sparse_q(), limit=10, filter={"year": 2020})] == ["d0", "d3"]
    with pytest.raises(ConfigError, match="type must be one of"):
        store.create_index("i", "x", "text")  # type: ignore[arg-type]
    with pytest.raises(CollectionNotFoundError):
        store.create_index("nope", "x", "keyword")


def test_dense_vector_of_the_wrong_size_is_config_error(store: Store) -> None:
    store.create_collection("h", CollectionSpec(dense=DenseSpec("dense", 4, "dot")))
    with pytest.raises(ConfigError, match="4-d"):
        store.upsert("h", records(dense=True)[:1])


def test_unindexed_filter_warns_once_per_field(filled: Store, caplog: pytest.LogCaptureFixture) -> None:
    filled.unindexed_filter_warning_points = len(POINTS)
    with caplog.at_level("WARNING", logger="splade_qdrant.store.base"):
        filled.query("c", sparse_q(), limit=3, filter={"lang": "en"})
        filled.query_batch("c", [sparse_q(), sparse_q()], limit=3, filter={"lang": "fr", "year": 2020})
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2 and "'lang'" in warned[0] and "'year'" in warned[1]
    assert all("--index-field" in w for w in warned)


def test_indexed_or_small_collections_do_not_warn(filled: Store, caplog: pytest.LogCaptureFixture) -> None:
    filled.create_index("c", "lang", "keyword")
    with caplog.at_level("WARNING", logger="splade_qdrant.store.base"):
        filled.query("c", sparse_q(), limit=3, filter={"lang": "en"})  # indexed
        filled.query("c", sparse_q(), limit=3, filter={"year": 2020})  # 5 points: small
    assert caplog.records == []


def test_server_options_are_refused_on_edge_and_recorded_on_qdrant_client(store: Store) -> None:
    options = ServerOptions(shards=6, replicas=2, write_consistency=1, on_disk_sparse=True, on_disk_payload=True)
    spec = CollectionSpec(server=options)
    if isinstance(store, EdgeStore):
        with pytest.raises(ConfigError, match="shards, replicas"):
            store.create_collection("s", spec)
        assert not store.collection_exists("s")
        store.create_collection("s", spec.without_server_options())
        assert store.spec("s").server is None
    elif isinstance(store, RemoteStore) and store.connection is not None:  # a real server reports what it made
        store.create_collection("s", spec)
        assert store.spec("s").server.shards == 6  # type: ignore[union-attr]
    else:
        store.create_collection("s", spec)
        assert store.spec("s").server == options


@pytest.mark.parametrize("bad", [{"shards": 0}, {"replicas": -1}, {"write_consistency": 3, "replicas": 2}, {"shards": True}])
def test_server_options_are_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ServerOptions(**bad)


@pytest.mark.parametrize(("text", "expected"), [("lang", ("lang", "keyword")), ("meta.year:integer", ("meta.year", "integer"))])
def test_parse_index_field(text: str, expected: tuple[str, str]) -> None:
    assert parse_index_field(text) == expected


@pytest.mark.parametrize("text", ["", ":integer", "year:number"])
def test_parse_index_field_refuses(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_index_field(text)
