"""migrate: copy collections between Qdrant Edge, qdrant-client local path and :memory:.

Fast tests use small synthetic collections (random sparse + dense vectors, payloads, a
payload index, a fingerprint); the slow test round-trips all of Cranfield ingested with
splade-tiny: Edge → qdrant-client local path → new Edge, and compares real searches.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from splade_qdrant.errors import ConfigError, FingerprintMismatchError
from splade_qdrant.ingest import same_payload
from splade_qdrant.migrate import MigrationError, migrate, open_location, same_dense
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store import CollectionSpec, DenseSpec, PointRecord, Store, open_store

from .helpers import CRAN_COLLECTION

#: Relative score tolerance: float32 sums of ~200 term products in another order.
SCORE_RTOL = 1e-5
FINGERPRINT = {"library": "splade_qdrant", "document": {"model": "m", "max_length": 256}, "query": {"model": "m", "max_length": 64}}


def _spec(**changes: Any) -> CollectionSpec:
    base: dict[str, Any] = {
        "dense": DenseSpec("dense", 8, "cosine"),
        "metadata": FINGERPRINT,
        "payload_indexes": {"lang": "keyword"},
    }
    return CollectionSpec(**{**base, **changes})


def _points(n: int, seed: int = 0) -> list[PointRecord]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        idx = np.sort(rng.choice(2000, size=int(rng.integers(1, 40)), replace=False)).astype(np.int64)
        vals = rng.random(len(idx), dtype=np.float32) + np.float32(0.01)
        dense = rng.standard_normal(8).astype(np.float32)
        payload = {"doc_id": f"d{i}", "content_hash": f"h{i}", "lang": ["en", "fr"][i % 2], "n": i * 0.1, "tags": [i, "x"]}
        out.append(PointRecord(str(uuid.uuid5(uuid.NAMESPACE_OID, f"d{i}")), SparseVector.from_arrays(idx, vals), payload, dense))
    return out


def _filled(store: Store, n: int = 120, name: str = "docs", spec: CollectionSpec | None = None) -> list[PointRecord]:
    store.create_collection(name, spec or _spec())
    points = _points(n)
    store.upsert(name, points)
    return points


def _all(store: Store, name: str) -> dict[str, Any]:
    out = {}
    offset = None
    while True:
        page, offset = store.scroll(name, limit=50, offset=offset, with_vectors=True)
        for p in page:
            out[p.id] = (p.sparse.indices.tolist(), p.sparse.values.tobytes(), p.payload)
        if offset is None:
            return out


def _dense(store: Store, name: str) -> dict[str, np.ndarray]:
    page, _ = store.scroll(name, limit=10_000, with_vectors=True)
    return {p.id: p.dense for p in page}


def _assert_same_points(a: Store, a_name: str, b: Store, b_name: str) -> None:
    """Ids and sparse vectors equal bit for bit, payloads equal (floats within 1e-12); cosine dense vectors within 1e-6
    (Qdrant renormalises cosine vectors on insert), other dense vectors bit for bit."""
    pa, pb = _all(a, a_name), _all(b, b_name)
    assert {k: v[:2] for k, v in pb.items()} == {k: v[:2] for k, v in pa.items()}
    # Qdrant Edge reads payload floats back within a few ulps (its JSON number parsing), as ingest knows
    assert all(same_payload(pb[k][2], pa[k][2]) for k in pa)
    distance = a.spec(a_name).dense.distance
    da, db = _dense(a, a_name), _dense(b, b_name)
    assert da.keys() == db.keys() and all(same_dense(da[k], db[k], distance) for k in da)
    if distance != "cosine":
        assert all(da[k].tobytes() == db[k].tobytes() for k in da)


@pytest.mark.parametrize("distance", ["cosine", "dot"])
@pytest.mark.parametrize("kinds", [("edge", "local"), ("local", "edge"), ("edge", "edge"), ("edge", "memory")])
def test_copy_between_store_kinds_is_exact(tmp_path: Path, kinds: tuple[str, str], distance: str) -> None:
    def make(kind: str, where: Path) -> Store:
        return {"edge": lambda: open_location(where), "local": lambda: open_location(local_path=str(where)), "memory": lambda: open_store(":memory:")}[kind]()

    src, dst = make(kinds[0], tmp_path / "a"), make(kinds[1], tmp_path / "b")
    with src, dst:
        _filled(src, spec=_spec(dense=DenseSpec("dense", 8, distance)))  # type: ignore[arg-type]
        report = migrate(src, dst, "docs", to_collection="copy", batch_size=32, show_progress=False)
        assert (report.copied, report.skipped_existing, report.verified, report.created) == (120, 0, True, True)
        assert report.sample_checked == 100 and report.queries_checked == 20  # 10 sparse + 10 dense
        _assert_same_points(src, "docs", dst, "copy")
        got, want = dst.spec("copy"), src.spec("docs")
        assert (got.sparse_name, got.sparse_datatype, got.idf, got.dense) == (want.sparse_name, want.sparse_datatype, want.idf, want.dense)
        assert dict(got.metadata) == FINGERPRINT and dict(got.payload_indexes) == {"lang": "keyword"}


def test_open_location_recognises_a_qdrant_client_local_path(tmp_path: Path) -> None:
    with open_location(local_path=str(tmp_path / "client")) as s:
        _filled(s, 5)
    with open_location(tmp_path / "client") as s:  # found by its meta.json
        assert s.kind == "qdrant-client" and s.count("docs") == 5
    assert open_location(tmp_path / "edge").kind == "edge"
    with pytest.raises(ConfigError):
        open_location(tmp_path / "x", url="http://localhost:6333")


def test_rerun_copies_nothing_and_an_interrupted_copy_resumes(tmp_path: Path) -> None:
    src, dst = open_location(tmp_path / "a"), open_location(tmp_path / "b")
    with src, dst:
        _filled(src)

        class Interrupted(Exception):
            pass

        calls = {"n": 0}
        real_upsert = dst.upsert

        def failing_upsert(name: str, points: Any, *, insert_only: bool = False) -> None:
            calls["n"] += 1
            if calls["n"] == 3:  # the third page fails, as a kill or a network error would
                raise Interrupted
            real_upsert(name, points, insert_only=insert_only)

        dst.upsert = failing_upsert  # type: ignore[method-assign]
        with pytest.raises(Interrupted):
            migrate(src, dst, "docs", batch_size=25, show_progress=False)
        assert dst.count("docs") == 50
        del dst.upsert
        resumed = migrate(src, dst, "docs", batch_size=25, show_progress=False)
        assert (resumed.skipped_existing, resumed.copied, resumed.created, resumed.verified) == (50, 70, False, True)
        again = migrate(src, dst, "docs", batch_size=25, show_progress=False)
        assert (again.copied, again.skipped_existing) == (0, 120)
        assert dst.count("docs") == 120
        _assert_same_points(src, "docs", dst, "docs")


def test_a_changed_source_point_is_copied_again(tmp_path: Path) -> None:
    src, dst = open_location(tmp_path / "a"), open_store(":memory:")
    with src, dst:
        points = _filled(src, 20)
        migrate(src, dst, "docs", show_progress=False)
        p = points[3]
        src.upsert("docs", [PointRecord(p.id, SparseVector.from_dict({7: 2.0}), {**p.payload, "content_hash": "new"}, p.dense)])
        report = migrate(src, dst, "docs", show_progress=False)
        assert (report.copied, report.skipped_existing) == (1, 19)
        assert dst.retrieve("docs", [p.id], with_vectors=True)[0].sparse.as_dict() == {7: 2.0}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"metadata": {**FINGERPRINT, "document": {"model": "other", "max_length": 256}}}, FingerprintMismatchError),
        ({"dense": DenseSpec("dense", 16, "cosine")}, ConfigError),
        ({"sparse_datatype": "float16"}, ConfigError),
        ({"dense": None}, ConfigError),
    ],
)
def test_refuses_an_existing_target_with_another_fingerprint_or_vector_configuration(
    tmp_path: Path, change: dict[str, Any], error: type[Exception]
) -> None:
    src, dst = open_location(tmp_path / "a"), open_location(tmp_path / "b")
    with src, dst:
        _filled(src, 10)
        dst.create_collection("docs", _spec(**change))
        with pytest.raises(error, match="docs"):
            migrate(src, dst, "docs", show_progress=False)
        assert dst.count("docs") == 0


def test_verification_catches_a_target_that_differs(tmp_path: Path) -> None:
    src, dst = open_location(tmp_path / "a"), open_store(":memory:")
    with src, dst:
        points = _filled(src, 30)
        migrate(src, dst, "docs", show_progress=False)
        extra = _points(31)[30]
        dst.upsert("docs", [extra])  # a point the source does not have
        p = points[0]
        dst.upsert("docs", [PointRecord(p.id, SparseVector.from_arrays(p.sparse.indices, p.sparse.values * 2), p.payload, p.dense)])
        with pytest.raises(MigrationError, match="31 in the target|different vectors"):
            migrate(src, dst, "docs", sample=30, show_progress=False)


def test_refuses_copying_a_collection_onto_itself(tmp_path: Path) -> None:
    with open_location(tmp_path / "a") as s:
        _filled(s, 3)
        with pytest.raises(ConfigError):
            migrate(s, s, "docs")


@pytest.mark.slow  # subprocesses
def test_cli_migrate_round_trip_and_usage_errors(tmp_path: Path) -> None:
    with open_location(tmp_path / "a") as s:
        _filled(s, 40)
    run = [sys.executable, "-m", "splade_qdrant", "migrate", "--collection", "docs"]
    ok = subprocess.run([*run, "--from-store", str(tmp_path / "a"), "--to-local-path", str(tmp_path / "b"), "--json"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert '"verified": true' in ok.stdout and '"copied": 40' in ok.stdout
    back = subprocess.run([*run, "--from-store", str(tmp_path / "b"), "--to-store", str(tmp_path / "c"), "--batch-size", "7"],
                          capture_output=True, text=True, timeout=120)
    assert back.returncode == 0, back.stderr
    with open_location(tmp_path / "a") as a, open_location(tmp_path / "c") as c:
        _assert_same_points(a, "docs", c, "docs")
    missing = subprocess.run([*run, "--from-store", str(tmp_path / "nowhere"), "--to-store", str(tmp_path / "d")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1 and "docs" in missing.stderr
    no_target = subprocess.run([*run, "--from-store", str(tmp_path / "a")], capture_output=True, text=True, timeout=120)
    assert no_target.returncode == 2


@pytest.mark.slow
def test_cranfield_edge_to_local_path_to_new_edge_gives_identical_search_results(
    cran_edge: Any, tiny_pair: Any, cranfield_queries: list[dict[str, Any]], tmp_path: Path
) -> None:
    from splade_qdrant.search import Searcher

    local = open_location(local_path=str(tmp_path / "client"))
    edge = open_location(tmp_path / "edge")
    with local, edge:
        first = migrate(cran_edge.store, local, CRAN_COLLECTION, show_progress=False)
        second = migrate(local, edge, CRAN_COLLECTION, show_progress=False)
        assert first.verified and second.verified and first.copied == second.copied == 1400
        queries = [q["text"] for q in cranfield_queries]
        before = Searcher(cran_edge.store, CRAN_COLLECTION, query_encoder=tiny_pair.query).search_batch(queries, limit=10)
        after = Searcher(edge, CRAN_COLLECTION, query_encoder=tiny_pair.query).search_batch(queries, limit=10)
        # Same documents in the same order; scores equal to float32 rounding (the rebuilt inverted
        # index may add a document's term contributions in another order).
        assert [[h.id for h in hits] for hits in after] == [[h.id for h in hits] for hits in before]
        for a, b in zip(after, before):
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=SCORE_RTOL)
        # every point, bit for bit
        src = {pid: v[:3] for pid, v in _sparse_all(cran_edge.store).items()}
        assert {pid: v[:3] for pid, v in _sparse_all(edge).items()} == src
        assert edge.metadata(CRAN_COLLECTION) == cran_edge.store.metadata(CRAN_COLLECTION)


def _sparse_all(store: Store) -> dict[str, Any]:
    out = {}
    offset = None
    while True:
        page, offset = store.scroll(CRAN_COLLECTION, limit=500, offset=offset, with_vectors=True)
        for p in page:
            out[p.id] = (p.sparse.indices.tolist(), p.sparse.values.tobytes(), repr(sorted(p.payload.items())))
        if offset is None:
            return out
