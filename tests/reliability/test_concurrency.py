"""Concurrency: searches in threads during an ingest on the same EdgeStore; a second process
on the same embedded store gets a clear error and never damages the first one's data."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from splade_qdrant.errors import CollectionExistsError, StoreUnavailableError
from splade_qdrant.ingest import ingest, point_id
from splade_qdrant.search import Searcher
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store.base import CollectionSpec, SparseQuery
from splade_qdrant.store.edge import EdgeStore

from .rel_helpers import CRANFIELD, REPO, assert_one_line_error, cli
from .rel_holder import points


HOLDER = Path(__file__).with_name("rel_holder.py")


@pytest.mark.slow  # splade-tiny: threads search while 100 documents ingest (test_threads.py proves the same in the fast tier)
def test_threads_search_while_ingest_runs(store, pair, cran_docs):
    docs = cran_docs[:100]
    valid = {d["_id"] for d in docs}
    ingest(store, "c", docs[:20], pair=pair, show_progress=False)
    searcher = Searcher(store, "c", query_encoder=pair.query)
    with open(CRANFIELD / "queries.jsonl", encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for line in fh][:24]
    stop = threading.Event()
    errors: list[BaseException] = []
    rounds = [0, 0, 0]

    def worker(k: int) -> None:
        try:
            while not stop.is_set():
                for hits in searcher.search_batch(queries[k::3], limit=10):
                    assert 0 < len(hits) <= 10
                    scores = [h.score for h in hits]
                    assert all(math.isfinite(s) for s in scores) and scores == sorted(scores, reverse=True)
                    for h in hits:
                        assert h.id in valid and h.point_id == point_id(h.id)
                rounds[k] += 1
                stop.wait(0.02)  # leave the encoder some CPU on small machines
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        report = ingest(store, "c", docs, pair=pair, chunk_size=20, upsert_batch=5, show_progress=False)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not errors, errors[0]
    assert min(rounds) >= 1
    assert report.points_in_collection == len(docs)
    assert {h.id for h in searcher.search("wing slipstream", limit=5)} <= valid


def _hold(root: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HOLDER), "hold", str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


@pytest.mark.slow  # real subprocesses holding the store
def test_second_process_gets_a_clear_error_and_changes_nothing(tmp_path):
    root = tmp_path / "store"
    holder = _hold(root)
    try:
        with EdgeStore(root) as other:
            assert other.list_collections() == ["c"]  # metadata reads do not need the lock
            busy = pytest.raises(StoreUnavailableError, match="in use by another process")
            with busy:
                other.count("c")
            with busy:
                other.retrieve("c", [points(0, 1)[0].id])
            with busy:
                other.query("c", SparseQuery(SparseVector.from_dict({1: 1.0}), "splade"), limit=3)
            with busy:
                other.upsert("c", points(0, 10, "intruder"))
            with busy:
                other.delete_collection("c")
            with pytest.raises(CollectionExistsError):
                other.create_collection("c", CollectionSpec())
            # locks are per collection: another collection in the same store works meanwhile
            other.create_collection("mine", CollectionSpec())
            other.upsert("mine", points(0, 3, "mine"))
            assert other.count("mine") == 3
        assert_one_line_error(cli("info", "--store", str(root), "-c", "c"), "in use by another process")
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.wait(timeout=120) == 0
    finally:
        holder.kill()

    with EdgeStore(root) as store:
        assert store.count("c") == 1000
        expected = points(0, 1000)
        got = {p.id: p for p in store.retrieve("c", [p.id for p in expected], with_vectors=True)}
        for p in expected:
            assert got[p.id].payload == {"i": p.payload["i"], "tag": "holder"}
            assert got[p.id].sparse.indices.tolist() == p.sparse.indices.tolist()
            np.testing.assert_array_equal(got[p.id].sparse.values, p.sparse.values)


@pytest.mark.slow  # real subprocesses holding the store
def test_two_processes_creating_one_collection_at_once(tmp_path):
    root = tmp_path / "store"
    racers = [
        subprocess.Popen([sys.executable, str(HOLDER), "race", str(root), tag], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd=REPO)
        for tag in ("A", "B")
    ]
    try:
        for r in racers:
            assert r.stdout is not None and r.stdout.readline().strip() == "ready"
        names = [f"race{k}" for k in range(4)]
        winners = {}
        for name in names:
            for r in racers:  # both go as close together as two writes allow
                assert r.stdin is not None
                r.stdin.write(name + "\n")
                r.stdin.flush()
            outcomes = [r.stdout.readline().strip() for r in racers]  # type: ignore[union-attr]
            assert sorted(outcomes) in (["busy", "created"], ["created", "exists"]), outcomes
            winners[name] = "AB"[outcomes.index("created")]
        for r in racers:
            r.stdin.close()  # type: ignore[union-attr]
            assert r.wait(timeout=120) == 0
    finally:
        for r in racers:
            r.kill()
    with EdgeStore(root) as store:
        assert store.list_collections() == names  # no half-built collection left behind
        for name in names:
            assert store.count(name) == 50
            tags = {p.payload["tag"] for p in store.retrieve(name, [p.id for p in points(0, 50)])}
            assert tags == {winners[name]}
    assert not [p.name for p in root.iterdir() if p.name.startswith(".creating-")]
