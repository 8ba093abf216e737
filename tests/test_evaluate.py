"""Evaluation (``splade_qdrant.evaluate``): metric values worked out by hand, TREC run files,
and Cranfield end to end against the exact-scoring reference of ``../shared/REFERENCE.md``.

The Cranfield collection is the session fixture ``cran_edge`` (all 1,400 documents in an
embedded Qdrant Edge store, documents truncated at 256 tokens and queries at 64, as the
reference rows are); it is ingested once per test session and shared with the integration tests.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ir_measures
import pytest

from splade_qdrant.errors import ConfigError
from splade_qdrant.evaluate import EvalResult, RunConfig, evaluate, load_qrels, load_queries, score_run, write_trec_run
from splade_qdrant.ingest import point_id
from splade_qdrant.search import Searcher
from splade_qdrant.store.base import PointRecord
from splade_qdrant.store.remote import RemoteStore

from .helpers import IngestedStore, read_jsonl

REPO_ROOT = Path(__file__).resolve().parents[1]
METRICS = {"nDCG@10", "MRR@10", "R@100"}
#: REFERENCE.md, cranfield, SPLADE (splade-tiny): the project must land within ±0.002.
REF_NDCG10, REF_R100, REF_TOL = 0.3634, 0.7311, 0.002
#: Judged queries the ``:memory:`` store evaluates (qdrant-client's local mode is slow).
MEMORY_QUERIES = 25


# --------------------------------------------------------------------------- (a) metrics by hand

# q1, graded. Ranking: d4 (judged 0), d1 (3), x1 (unjudged), d3 (1); d2 (2) not retrieved.
#   DCG@10  = 3/log2(3) + 1/log2(5)              = 1.892789 + 0.430677 = 2.323466
#   IDCG@10 = 3/log2(2) + 2/log2(3) + 1/log2(4)  = 3 + 1.261860 + 0.5  = 4.761860
#   nDCG@10 = 0.487932;  MRR@10 = 1/2 (first relevant at rank 2);  R@100 = 2/3 (d1, d3 of d1, d2, d3)
# q2, binary. Ranks 1-11 unjudged, "a" at rank 12, 88 more unjudged, "b" at rank 101.
#   nDCG@10 = 0;  MRR@10 = 0 (rank 12 > 10);  R@100 = 1/2 (b is at rank 101)
# q3, graded. Ranking: x (unjudged), r (1), p (2), y (unjudged); s (1) not retrieved.
#   DCG@10  = 1/log2(3) + 2/log2(4)              = 0.630930 + 1 = 1.630930
#   IDCG@10 = 2/log2(2) + 1/log2(3) + 1/log2(4)  = 2 + 0.630930 + 0.5 = 3.130930
#   nDCG@10 = 0.520909;  MRR@10 = 1/2;  R@100 = 2/3
QRELS: dict[str, dict[str, int]] = {
    "q1": {"d1": 3, "d2": 2, "d3": 1, "d4": 0},
    "q2": {"a": 1, "b": 1},
    "q3": {"p": 2, "r": 1, "s": 1},
}
RUN: dict[str, list[tuple[str, float]]] = {
    "q1": [("d4", 0.9), ("d1", 0.8), ("x1", 0.7), ("d3", 0.6)],
    "q2": [(f"n{i}", 1000.0 - i) for i in range(11)] + [("a", 989.0)] + [(f"m{i}", 988.0 - i) for i in range(88)] + [("b", 900.0)],
    "q3": [("x", 0.9), ("r", 0.8), ("p", 0.7), ("y", 0.6)],
}
L2 = math.log2
EXPECTED: dict[str, dict[str, float]] = {
    "q1": {"nDCG@10": (3 / L2(3) + 1 / L2(5)) / (3 + 2 / L2(3) + 1 / L2(4)), "MRR@10": 0.5, "R@100": 2 / 3},
    "q2": {"nDCG@10": 0.0, "MRR@10": 0.0, "R@100": 0.5},
    "q3": {"nDCG@10": (1 / L2(3) + 2 / L2(4)) / (2 + 1 / L2(3) + 1 / L2(4)), "MRR@10": 0.5, "R@100": 2 / 3},
}


def test_hand_values_are_what_the_comments_say() -> None:
    # Guards the expected values themselves (typed once as formulas, once as decimals).
    assert EXPECTED["q1"]["nDCG@10"] == pytest.approx(0.487932, abs=1e-6)
    assert EXPECTED["q3"]["nDCG@10"] == pytest.approx(0.520909, abs=1e-6)
    assert [h for h, _ in RUN["q2"]].index("a") == 11 and [h for h, _ in RUN["q2"]].index("b") == 100
    assert len(RUN["q2"]) == 101


@pytest.mark.parametrize("qid", sorted(QRELS))
def test_metrics_per_query_by_hand(qid: str) -> None:
    got = score_run({qid: QRELS[qid]}, {qid: RUN[qid]}, limit=100)
    assert set(got) == METRICS
    for name, want in EXPECTED[qid].items():
        assert abs(got[name] - want) <= 1e-9, f"{qid} {name}: {got[name]} != {want}"


def test_metrics_mean_over_queries_by_hand() -> None:
    got = score_run(QRELS, RUN, limit=100)
    for name in METRICS:
        want = sum(EXPECTED[q][name] for q in QRELS) / len(QRELS)
        assert abs(got[name] - want) <= 1e-9, f"{name}: {got[name]} != {want}"
    # MRR@10 = (1/2 + 0 + 1/2) / 3 and R@100 = (2/3 + 1/2 + 2/3) / 3 = 11/18, written out too
    assert got["MRR@10"] == pytest.approx(1 / 3, abs=1e-12)
    assert got["R@100"] == pytest.approx(11 / 18, abs=1e-12)


def test_judged_query_without_hits_counts_as_zero() -> None:
    # A query that retrieved nothing must pull the mean down, not vanish from it.
    qrels = {**QRELS, "q4": {"z": 2}}
    for run in ({**RUN, "q4": []}, RUN):
        got = score_run(qrels, run, limit=100)
        for name in METRICS:
            want = sum(EXPECTED[q][name] for q in QRELS) / 4
            assert abs(got[name] - want) <= 1e-9, f"{name}: {got[name]} != {want}"


def test_scoring_in_parts_equals_ir_measures_on_the_whole_run() -> None:
    """``evaluate`` scores 256 queries at a time (memory flat in the query count): the parts'
    means must equal ir-measures' aggregate over the whole run, including judged queries
    without hits and hits on unjudged documents."""
    import random

    from splade_qdrant.evaluate import _Scorer

    rng = random.Random(7)
    qrels = {f"q{i}": {f"d{rng.randrange(300)}": rng.randrange(4) for _ in range(rng.randrange(1, 8))} for i in range(300)}
    run = {q: [(f"d{rng.randrange(300)}", rng.random()) for _ in range(rng.randrange(0, 120))] for q in qrels if rng.random() < 0.95}
    run = {q: list(dict(hits).items()) for q, hits in run.items()}  # one score per document
    scorer = _Scorer(qrels, limit=1000)
    ids = list(run)
    for start in range(0, len(ids), 100):  # parts of 100 here (evaluate's are 256)
        scorer.add({q: run[q] for q in ids[start : start + 100]})
    got = scorer.means()
    measures = [ir_measures.parse_measure(n) for n in ("nDCG@10", "RR@10", "R@100", "R@1000")]
    qrel_rows = [ir_measures.Qrel(q, d, g) for q, docs in qrels.items() for d, g in docs.items()]
    run_rows = [ir_measures.ScoredDoc(q, d, s) for q, hits in run.items() for d, s in hits]
    want = ir_measures.calc_aggregate(measures, qrel_rows, run_rows)
    assert set(got) == METRICS | {"R@1000"}
    for m in measures:
        assert got[str(m).replace("RR@10", "MRR@10")] == pytest.approx(want[m], abs=1e-12), str(m)


def test_recall_at_1000_only_with_a_deep_limit() -> None:
    assert set(score_run(QRELS, RUN, limit=999)) == METRICS
    deep = score_run(QRELS, RUN, limit=1000)
    assert set(deep) == METRICS | {"R@1000"}
    # every relevant retrieved document is within 1,000: q1 2/3, q2 1, q3 2/3
    assert deep["R@1000"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3, abs=1e-12)


# --------------------------------------------------------------------------- (b) TREC run files


def read_trec(path: Path) -> tuple[dict[str, list[tuple[str, float]]], list[list[str]]]:
    """A plain reader: the run (hits in file order) and the split lines."""
    rows = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    run: dict[str, list[tuple[str, float]]] = {}
    for qid, _, doc, _, score, _ in rows:
        run.setdefault(qid, []).append((doc, float(score)))
    return run, rows


def assert_trec_file(path: Path, run: dict[str, list[tuple[str, float]]], tag: str) -> list[list[str]]:
    back, rows = read_trec(path)
    assert len(rows) == sum(len(hits) for hits in run.values())  # one line per hit, none for empty queries
    assert all(len(r) == 6 and r[1] == "Q0" and r[5] == tag for r in rows), rows[:3]
    for qid, hits in run.items():
        mine = [r for r in rows if r[0] == qid]
        assert [int(r[3]) for r in mine] == list(range(1, len(hits) + 1))  # ranks from 1, in order
        assert [r[2] for r in mine] == [d for d, _ in hits]
        for (doc, score), (_, written) in zip(hits, back.get(qid, [])):
            assert abs(written - score) <= 1e-6 * max(1.0, abs(score)), (qid, doc, score, written)
    return rows


def test_write_trec_run_format(tmp_path: Path) -> None:
    path = tmp_path / "run.txt"
    run = {**RUN, "q0": []}
    write_trec_run(path, run, name="hybrid rrf k=60")
    rows = assert_trec_file(path, run, "hybrid_rrf_k=60")
    assert rows[0] == ["q1", "Q0", "d4", "1", rows[0][4], "hybrid_rrf_k=60"]
    assert float(rows[0][4]) == pytest.approx(0.9)


def test_trec_run_reads_back_with_ir_measures(tmp_path: Path) -> None:
    path = tmp_path / "run.txt"
    write_trec_run(path, RUN, name="sparse")
    back: dict[str, list[tuple[str, float]]] = {}
    for sd in ir_measures.read_trec_run(str(path)):
        back.setdefault(sd.query_id, []).append((sd.doc_id, sd.score))
    assert {q: [d for d, _ in hits] for q, hits in back.items()} == {q: [d for d, _ in hits] for q, hits in RUN.items()}
    assert score_run(QRELS, back, limit=100) == score_run(QRELS, RUN, limit=100)


def test_trec_run_keeps_the_order_of_close_scores(tmp_path: Path) -> None:
    # Two cosine scores one float32 step or so apart (all-MiniLM scores look like this):
    # the file must still rank "a" above "b", or trec_eval / ir-measures (which rank by score
    # and break ties by document id) score a different ranking than the one evaluated.
    qrels = {"q": {"a": 1}}
    run = {"q": [("a", 0.8234561), ("b", 0.8234559), ("c", 0.5)]}
    path = tmp_path / "close.txt"
    write_trec_run(path, run, name="dense")
    back, _ = read_trec(path)
    scores = [s for _, s in back["q"]]
    assert scores[0] > scores[1] > scores[2], f"written scores {scores} lost the ranking"
    assert score_run(qrels, back, limit=100) == score_run(qrels, run, limit=100)


# --------------------------------------------------------------------------- (c) Cranfield end to end


@dataclass
class CranEval:
    cran: IngestedStore
    searcher: Searcher
    result: EvalResult
    run_file: Path


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "SPLADE_QDRANT_STORE", "SPLADE_QDRANT_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def cran(cran_edge: IngestedStore) -> IngestedStore:
    """The session's Cranfield Edge store; its documents must be truncated, as the reference's are."""
    recorded = cran_edge.store.spec(cran_edge.name).metadata
    assert recorded["document"]["long_docs"] == "truncate", recorded["document"]
    assert (recorded["document"]["max_length"], recorded["query"]["max_length"]) == (256, 64)
    assert cran_edge.store.count(cran_edge.name) == 1400
    return cran_edge


@pytest.fixture(scope="module")
def cran_eval(cran: IngestedStore, tiny_pair: Any, cranfield_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> CranEval:
    """Sparse mode over every judged Cranfield query through the Python API (run once)."""
    searcher = Searcher(cran.store, cran.name, query_encoder=tiny_pair.query)
    run_file = tmp_path_factory.mktemp("cran-eval") / "sparse.run"
    result = evaluate(searcher, cranfield_dir, configs=[RunConfig("sparse")], limit=100, run_file=run_file)
    return CranEval(cran, searcher, result, run_file)


def judged_query_ids(dataset: Path) -> list[str]:
    """Written here from the files (not the library's loaders): judged ids in queries.jsonl order."""
    judged = {line.split("\t")[0] for line in (dataset / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:] if line}
    return [str(q["_id"]) for q in read_jsonl(dataset / "queries.jsonl") if str(q["_id"]) in judged]


@pytest.mark.slow  # all 1,400 Cranfield documents ingested and 225 queries run
def test_cranfield_sparse_reproduces_reference(cran_eval: CranEval, cranfield_dir: Path) -> None:
    assert len(cran_eval.result.results) == 1
    r = cran_eval.result.results[0]
    assert r.config.label == "sparse"
    assert r.queries == len(judged_query_ids(cranfield_dir)) == 225
    assert abs(r.metrics["nDCG@10"] - REF_NDCG10) <= REF_TOL, r.metrics
    assert abs(r.metrics["R@100"] - REF_R100) <= REF_TOL, r.metrics
    assert r.metrics["nDCG@10"] < r.metrics["MRR@10"] <= 1.0  # graded nDCG sits below MRR here
    assert r.queries_per_s > 0 and 0 < r.p50_ms <= r.p99_ms
    as_json = cran_eval.result.as_json()
    assert set(as_json) == {"sparse"}
    assert set(as_json["sparse"]) == METRICS | {"queries", "queries_per_s", "p50_ms", "p99_ms"}
    assert cran_eval.result.collection == cran_eval.cran.name and cran_eval.result.dataset == "cranfield"
    assert "sparse" in cran_eval.result.table() and "nDCG@10" in cran_eval.result.table()


@pytest.mark.slow  # all 1,400 Cranfield documents ingested and 225 queries run
def test_cranfield_run_file_rescores_to_the_same_metrics(cran_eval: CranEval, cranfield_dir: Path) -> None:
    back, rows = read_trec(cran_eval.run_file)
    assert list(back) == judged_query_ids(cranfield_dir)
    assert all(len(hits) == 100 for hits in back.values())
    assert all(r[1] == "Q0" and r[5] == "sparse" for r in rows)
    for hits in back.values():
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True)
    qrels = {q: docs for q, docs in load_qrels(cranfield_dir).items()}
    rescored = score_run(qrels, back, limit=100)
    for name in METRICS:
        assert abs(rescored[name] - cran_eval.result.results[0].metrics[name]) <= 1e-9, name


@pytest.mark.slow  # all 1,400 Cranfield documents ingested and 225 queries run
def test_evaluate_in_small_parts_gives_the_same_metrics_and_run(
    cran_eval: CranEval, cranfield_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import splade_qdrant.evaluate as ev

    monkeypatch.setattr(ev, "_SCORE_CHUNK", 40)  # 225 queries: six parts, the last one short
    result = evaluate(cran_eval.searcher, cranfield_dir, configs=[RunConfig("sparse")], limit=100, run_file=tmp_path / "parts.run")
    for name in METRICS:
        assert result.results[0].metrics[name] == pytest.approx(cran_eval.result.results[0].metrics[name], abs=1e-12), name
    parts, _ = read_trec(tmp_path / "parts.run")
    whole, _ = read_trec(cran_eval.run_file)
    assert {q: [d for d, _ in h] for q, h in parts.items()} == {q: [d for d, _ in h] for q, h in whole.items()}


def test_cranfield_loaders_agree_with_the_files(cranfield_dir: Path) -> None:
    queries = load_queries(cranfield_dir)
    assert len(queries) == 225 and queries["1"].startswith("what similarity laws")
    qrels = load_qrels(cranfield_dir)
    assert sorted(qrels, key=int) == sorted(judged_query_ids(cranfield_dir), key=int)
    assert sum(len(d) for d in qrels.values()) == 1612 and qrels["1"]["184"] == 3


@pytest.mark.slow  # all 1,400 Cranfield documents ingested and 225 queries run
def test_evaluate_refuses_a_limit_below_ten(cran_eval: CranEval, cranfield_dir: Path) -> None:
    with pytest.raises(ConfigError):
        evaluate(cran_eval.searcher, cranfield_dir, limit=9)


@pytest.mark.slow  # all 1,400 Cranfield documents ingested and 225 queries run
def test_evaluate_refuses_dense_modes_without_dense_vectors(cran_eval: CranEval, cranfield_dir: Path) -> None:
    with pytest.raises(ConfigError, match="dense"):
        evaluate(cran_eval.searcher, cranfield_dir, configs=[RunConfig("hybrid")])


@pytest.mark.slow  # subprocess over the whole Cranfield collection
def test_cli_eval_json(cran_eval: CranEval, cranfield_dir: Path, tmp_path: Path) -> None:
    store = cran_eval.cran.store
    store.close()  # release the folder's lock for the subprocess; the store reopens on next use
    env = {k: v for k, v in os.environ.items() if k not in ("QDRANT_URL", "QDRANT_API_KEY", "SPLADE_QDRANT_STORE", "SPLADE_QDRANT_MODEL")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    run_file = tmp_path / "cli.run"
    proc = subprocess.run(
        [sys.executable, "-m", "splade_qdrant", "eval", str(cranfield_dir), "--collection", cran_eval.cran.name,
         "--store", str(store.root), "--json", "--run-file", str(run_file)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=400,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == {"sparse"}
    assert set(report["sparse"]) == METRICS | {"queries", "queries_per_s", "p50_ms", "p99_ms"}
    assert report["sparse"]["queries"] == 225
    api = cran_eval.result.results[0].metrics
    for name in METRICS:  # the CLI rounds to 4 decimals
        assert abs(report["sparse"][name] - api[name]) <= 5e-5 + 1e-12, (name, report["sparse"][name], api[name])
    assert abs(report["sparse"]["nDCG@10"] - REF_NDCG10) <= REF_TOL
    # The CLI wrote the run it evaluated (scores may differ from the API's run by a float32 step).
    back, rows = read_trec(run_file)
    assert list(back) == judged_query_ids(cranfield_dir) and len(rows) == 225 * 100
    rescored = score_run(load_qrels(cranfield_dir), back, limit=100)
    for name in METRICS:
        assert abs(rescored[name] - report["sparse"][name]) <= 5e-5 + 1e-12, name


@pytest.fixture(scope="module")
def subset_dir(cranfield_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first MEMORY_QUERIES judged Cranfield queries, in BEIR layout."""
    keep = set(judged_query_ids(cranfield_dir)[:MEMORY_QUERIES])
    out = tmp_path_factory.mktemp("cran-subset")
    (out / "qrels").mkdir()
    with (out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q in read_jsonl(cranfield_dir / "queries.jsonl"):
            if str(q["_id"]) in keep:
                fh.write(json.dumps(q) + "\n")
    lines = (cranfield_dir / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()
    (out / "qrels" / "test.tsv").write_text(
        "\n".join([lines[0], *(ln for ln in lines[1:] if ln.split("\t")[0] in keep)]) + "\n", encoding="utf-8"
    )
    return out


@pytest.fixture(scope="module")
def cran_memory_copy(cran: IngestedStore, cranfield_corpus: list[dict[str, Any]]) -> Iterator[RemoteStore]:
    """Cranfield in qdrant-client's ``:memory:`` mode: the Edge collection's points and fingerprint
    copied over through the Store interface (no second encoding of the corpus)."""
    memory = RemoteStore(location=":memory:")
    memory.create_collection(cran.name, cran.store.spec(cran.name))
    points = cran.store.retrieve(cran.name, [point_id(str(d["_id"])) for d in cranfield_corpus], with_vectors=True)
    assert len(points) == 1400 and all(p.sparse is not None for p in points)
    memory.upsert(cran.name, [PointRecord(p.id, p.sparse, p.payload) for p in points])  # type: ignore[arg-type]
    assert memory.count(cran.name) == 1400
    yield memory
    memory.close()


@pytest.mark.slow  # all 1,400 Cranfield documents ingested and 225 queries run
def test_eval_on_memory_store_matches_edge(
    cran: IngestedStore, cran_memory_copy: RemoteStore, tiny_pair: Any, subset_dir: Path, tmp_path: Path
) -> None:
    results = {}
    for kind, store in (("memory", cran_memory_copy), ("edge", cran.store)):
        searcher = Searcher(store, cran.name, query_encoder=tiny_pair.query)
        results[kind] = evaluate(searcher, subset_dir, limit=100, run_file=tmp_path / f"{kind}.run")
    memory, edge = results["memory"].results[0], results["edge"].results[0]
    assert memory.queries == edge.queries == MEMORY_QUERIES
    assert set(memory.metrics) == METRICS
    assert 0 < memory.metrics["nDCG@10"] <= 1
    for name in METRICS:
        assert memory.metrics[name] == pytest.approx(edge.metrics[name], abs=1e-9), name
    mem_run, _ = read_trec(tmp_path / "memory.run")
    edge_run, _ = read_trec(tmp_path / "edge.run")
    assert {q: [d for d, _ in h] for q, h in mem_run.items()} == {q: [d for d, _ in h] for q, h in edge_run.items()}
