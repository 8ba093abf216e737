"""CPU thread handling: usable CPUs from affinity and cgroup quota, per-thread torch settings
that are scoped and restored, and searches from several threads while an ingest encodes
(results equal to single-threaded ones, nobody's thread count changed)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from splade_qdrant import _cpus
from splade_qdrant.errors import ConfigError
from splade_qdrant._threads import CpuWorkers, cpu_quota, single_threaded, usable_cpus
from splade_qdrant.encoder import MaskedLM, SpladeEncoder
from splade_qdrant.ingest import ingest
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher
from splade_qdrant.store import open_store

WORDS = ["wing", "flow", "lift", "drag", "air", "speed", "heat", "transfer", "boundary", "layer", "shock", "wave", "pressure", "mach", "number", "plate", "jet"]


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 14)))) for _ in range(n)]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_cpu_quota_reads_cgroup_v2_and_v1(tmp_path: Path, files: dict[str, str], expected: float | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpu_quota(tmp_path) == expected


def test_usable_cpus_is_the_affinity_capped_by_the_quota(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_cpus.CPUS_ENV, raising=False)
    monkeypatch.setattr(_cpus.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(_cpus, "cpu_quota", lambda: None)
    assert usable_cpus() == 4
    monkeypatch.setattr(_cpus, "cpu_quota", lambda: 1.5)
    assert usable_cpus() == 2
    monkeypatch.setattr(_cpus, "cpu_quota", lambda: 0.2)
    assert usable_cpus() == 1
    monkeypatch.setattr(_cpus.os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setattr(_cpus, "cpu_quota", lambda: None)
    assert usable_cpus() == 1


def test_the_environment_caps_the_cpus_and_a_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cpus.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(_cpus, "cpu_quota", lambda: None)
    monkeypatch.setenv(_cpus.CPUS_ENV, "3")
    assert usable_cpus() == 3
    monkeypatch.setenv(_cpus.CPUS_ENV, "16")  # a cap, never more than the process may use
    assert usable_cpus() == 4
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(_cpus.CPUS_ENV, bad)
        with pytest.raises(ConfigError, match="SPLADE_QDRANT_CPUS must be a positive integer"):
            usable_cpus()


def test_single_threaded_changes_the_calling_thread_only_and_restores_it() -> None:
    before = torch.get_num_threads()
    entered, release = threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def other() -> None:  # a thread already running torch, and one started while the block is open
        seen["other before"] = torch.get_num_threads()
        entered.wait()
        seen["other during"] = torch.get_num_threads()
        fresh = threading.Thread(target=lambda: seen.__setitem__("fresh during", torch.get_num_threads()))
        fresh.start()
        fresh.join()
        release.set()

    t = threading.Thread(target=other)
    t.start()
    with single_threaded():
        seen["inside"] = torch.get_num_threads()
        with single_threaded():  # nesting restores the outer block's setting
            pass
        seen["inside after nested"] = torch.get_num_threads()
        entered.set()
        release.wait()
    t.join()
    assert seen == {"other before": before, "inside": 1, "inside after nested": 1, "other during": before,
                    "fresh during": before}
    assert torch.get_num_threads() == before


def test_workers_run_torch_on_one_thread_each() -> None:
    counts = CpuWorkers.shared().map_ordered(lambda _: torch.get_num_threads(), list(range(8)))
    assert counts == [1] * 8
    assert CpuWorkers.shared().threads == usable_cpus()


def test_concurrent_searches_during_an_ingest_equal_single_threaded_ones(tiny_mlm: MaskedLM, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("splade_qdrant._masked_lm.usable_cpus", lambda: 2)  # row groups on workers even on 1 CPU
    pair = EncoderPair(SpladeEncoder(tiny_mlm, max_length=16), SpladeEncoder(tiny_mlm, max_length=8))
    store = open_store(tmp_path / "search")
    busy = open_store(":memory:")
    try:
        docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(_texts(300, 1))]
        ingest(store, "t", docs, pair=pair, show_progress=False)
        searcher = Searcher(store, "t", query_encoder=pair.query)
        queries = _texts(24, 2)
        expected = [[(h.id, h.score) for h in searcher.search(q, limit=5)] for q in queries]

        before = torch.get_num_threads()
        torch.set_num_threads(2)  # what the callers use; nobody may change it
        results: dict[int, list[Any]] = {}
        counts: list[int] = []
        errors: list[BaseException] = []
        ingesting = threading.Event()

        def search_all(k: int) -> None:
            try:
                ingesting.wait(timeout=30)
                mine = torch.get_num_threads()
                out = []
                for _ in range(3):
                    for q in queries:
                        out.append([(h.id, h.score) for h in searcher.search(q, limit=5)])
                        counts.append(torch.get_num_threads() - mine)
                results[k] = out
            except BaseException as exc:  # noqa: BLE001 — reported by the main thread
                errors.append(exc)

        big = [{"id": f"b{i}", "text": t} for i, t in enumerate(_texts(1500, 3))]

        def docs_signalling() -> Any:
            ingesting.set()
            yield from big

        threads = [threading.Thread(target=search_all, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        report = ingest(busy, "b", docs_signalling(), pair=pair, show_progress=False)
        for t in threads:
            t.join()
        assert not errors
        assert report.points_in_collection == len(big)
        assert set(counts) == {0}  # every search thread kept its own torch thread count
        assert torch.get_num_threads() == 2
        fresh: list[int] = []
        t = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
        t.start()
        t.join()
        assert fresh == [2]  # the process-wide default new threads start from: untouched
        for out in results.values():
            assert out == expected * 3
        torch.set_num_threads(before)
    finally:
        store.close()
        busy.close()


@pytest.mark.slow
def test_real_model_queries_from_threads_during_document_encoding_equal_sequential(tiny_pair: Any,
                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # splade-tiny takes the pruned projection path (hidden size 128): equal under concurrency too.
    monkeypatch.setattr("splade_qdrant._masked_lm.usable_cpus", lambda: 2)
    queries = _texts(40, 4)
    batched = [v.to_dense(30522) for v in tiny_pair.query.encode(queries)]
    one_by_one = [tiny_pair.query.encode([q])[0].to_dense(30522) for q in queries]
    got: dict[int, list[np.ndarray]] = {}

    def run(k: int) -> None:
        got[k] = [tiny_pair.query.encode([q])[0].to_dense(30522) for q in queries]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    tiny_pair.document.encode(_texts(600, 5))
    for t in threads:
        t.join()
    for k in range(3):
        np.testing.assert_array_equal(np.stack(got[k]), np.stack(one_by_one))
    # batched and one-by-one agree on every positive weight within float rounding
    np.testing.assert_allclose(np.stack(batched), np.stack(one_by_one), rtol=0, atol=1e-5)


def test_quiet_transformers_restores_the_callers_settings_even_when_nested_across_threads() -> None:
    from transformers.utils import logging as hf_logging

    from splade_qdrant.models import quiet_transformers

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    try:
        hf_logging.set_verbosity_info()
        hf_logging.disable_progress_bar()  # the caller's choice: must survive the block
        inside, release = threading.Event(), threading.Event()

        def other() -> None:
            with quiet_transformers():
                inside.set()
                release.wait()

        t = threading.Thread(target=other)
        t.start()
        inside.wait()
        with quiet_transformers():
            assert hf_logging.get_verbosity() == hf_logging.ERROR
        assert hf_logging.get_verbosity() == hf_logging.ERROR  # the other thread is still inside
        release.set()
        t.join()
        assert hf_logging.get_verbosity() == hf_logging.INFO
        assert not hf_logging.is_progress_bar_enabled()
    finally:
        hf_logging.set_verbosity(verbosity)
        (hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)()


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_worker_pool(tiny_mlm: MaskedLM, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    monkeypatch.setattr("splade_qdrant._masked_lm.usable_cpus", lambda: 2)
    ids = torch.tensor([[2, 10, 11, 3]] * 200)
    parent = tiny_mlm.max_logits(ids, (ids != 0).long())  # starts the parent's workers
    _FORKED["mlm"] = tiny_mlm  # inherited by the forked child (the model does not pickle)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:  # the child would hang on the parent's (absent) threads
        child = pool.apply_async(_child_max_logits).get(timeout=120)
    np.testing.assert_array_equal(child, parent.numpy())


_FORKED: dict[str, Any] = {}


def _child_max_logits() -> np.ndarray:
    ids = torch.tensor([[2, 10, 11, 3]] * 200)
    return _FORKED["mlm"].max_logits(ids, (ids != 0).long()).numpy()
