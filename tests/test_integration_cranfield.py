"""All of Cranfield with splade-tiny: Qdrant's results against exact scoring, and Edge against
qdrant-client's ``:memory:`` mode (congruence). Runs in CI (not marked slow).

The session fixtures ``cran_edge`` and ``cran_memory`` ingest the 1,400 documents once each
(256 document tokens, 64 query tokens, one shared EncoderPair).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from splade_qdrant.encoder import SpladeEncoder
from splade_qdrant.errors import FingerprintMismatchError
from splade_qdrant.ingest import ingest, point_id
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store.base import SparseQuery

from .helpers import DOC_MAX_LENGTH, QUERY_MAX_LENGTH, IngestedStore, document_text

#: All 1,400 Cranfield documents ingested into both backends with the real model (the session fixtures).
pytestmark = pytest.mark.slow

N_DOCS = 1400
N_QUERIES = 20
TOP = 10
SCORE_TOL = 1e-4
TIE_TOL = 1e-5
VECTOR_TOL = 1e-5


@dataclass
class Exact:
    """Exact scoring: every query against every stored document vector, float64 dot products."""

    doc_ids: list[str]
    doc_vectors: list[SparseVector]
    queries: list[str]
    query_vectors: list[SparseVector]
    scores: np.ndarray  # [queries, docs] float64

    def score(self, q: int, doc_id: str) -> float:
        return float(self.scores[q, self.doc_ids.index(doc_id)])

    def ranking(self, q: int) -> list[tuple[str, float]]:
        order = np.argsort(-self.scores[q], kind="stable")
        return [(self.doc_ids[i], float(self.scores[q, i])) for i in order]


def exact_scores(doc_vectors: Sequence[SparseVector], query_vectors: Sequence[SparseVector], vocab: int) -> np.ndarray:
    queries = np.stack([q.to_dense(vocab).astype(np.float64) for q in query_vectors])  # [Q, V]
    out = np.zeros((len(query_vectors), len(doc_vectors)), dtype=np.float64)
    for d, vec in enumerate(doc_vectors):
        out[:, d] = queries[:, vec.indices] @ vec.values.astype(np.float64)
    return out


def assert_vectors_close(got: Sequence[SparseVector], want: Sequence[SparseVector], vocab: int, what: str) -> None:
    """Same weights within VECTOR_TOL (encoding in other batches changes float rounding, nothing else)."""
    assert len(got) == len(want), what
    for k, (g, w) in enumerate(zip(got, want)):
        diff = np.abs(g.to_dense(vocab) - w.to_dense(vocab)).max()
        assert diff <= VECTOR_TOL, f"{what} #{k}: max abs difference {diff}"


def assert_matches_ranking(hits: Sequence[tuple[str, float]], reference: Sequence[tuple[str, float]],
                           reference_score: dict[str, float] | Any, *, what: str) -> None:
    """``hits`` is ``reference``'s top list: at every rank the same document, or one whose reference
    score ties (within TIE_TOL) with the reference's document at that rank; scores within SCORE_TOL."""
    assert len(hits) == len(reference), what
    assert len({h for h, _ in hits}) == len(hits), f"{what}: duplicate ids"
    for rank, ((hid, hscore), (rid, rscore)) in enumerate(zip(hits, reference), start=1):
        true = reference_score(hid)
        assert abs(hscore - true) <= SCORE_TOL, f"{what} rank {rank}: {hid} scored {hscore}, exact {true}"
        if hid != rid:
            assert abs(true - rscore) <= TIE_TOL, f"{what} rank {rank}: got {hid} ({true}), expected {rid} ({rscore})"


@pytest.fixture(scope="module")
def exact(cran_edge: IngestedStore, tiny_pair: EncoderPair, cranfield_corpus: list[dict[str, Any]],
          cranfield_queries: list[dict[str, Any]]) -> Exact:
    doc_ids = [str(d["_id"]) for d in cranfield_corpus]
    stored = {p.payload["doc_id"]: p for p in cran_edge.store.retrieve(cran_edge.name, [point_id(i) for i in doc_ids], with_vectors=True)}
    assert len(stored) == N_DOCS
    doc_vectors = [stored[i].sparse if stored[i].sparse is not None else SparseVector.empty() for i in doc_ids]
    queries = [q["text"] for q in cranfield_queries[:N_QUERIES]]
    query_vectors = tiny_pair.query.encode(queries)
    scores = exact_scores(doc_vectors, query_vectors, tiny_pair.query.mlm.vocab_size)
    return Exact(doc_ids, doc_vectors, queries, query_vectors, scores)


@pytest.fixture(scope="module")
def edge_searcher(cran_edge: IngestedStore, tiny_pair: EncoderPair) -> Searcher:
    return Searcher(cran_edge.store, cran_edge.name, query_encoder=tiny_pair.query)


# --------------------------------------------------------------------------- ingest


def test_ingest_report(cran_edge: IngestedStore, cran_memory: IngestedStore, cranfield_corpus: list[dict[str, Any]]) -> None:
    empty = sum(1 for d in cranfield_corpus if not document_text(d.get("title"), d["text"]))
    for ing in (cran_edge, cran_memory):
        r = ing.report
        assert (r.documents, r.points_written, r.points_in_collection) == (N_DOCS, N_DOCS, N_DOCS)
        assert r.skipped_unchanged == 0 and r.skipped_existing == 0 and r.bad == []
        assert r.empty_texts == empty
        assert ing.store.count(ing.name) == N_DOCS
        assert 150 < r.avg_nnz < 300  # REFERENCE.md: 216 non-zero terms per Cranfield document


def test_stored_vectors_are_the_encoded_vectors(exact: Exact, tiny_pair: EncoderPair,
                                                cranfield_corpus: list[dict[str, Any]]) -> None:
    sample = list(range(0, N_DOCS, 175))
    texts = [document_text(cranfield_corpus[i].get("title"), cranfield_corpus[i]["text"]) for i in sample]
    stored = [exact.doc_vectors[i] for i in sample]
    assert_vectors_close(stored, tiny_pair.document.encode(texts), tiny_pair.document.mlm.vocab_size, "stored vs encoded")


def test_both_backends_store_the_same_vectors(exact: Exact, cran_memory: IngestedStore, tiny_pair: EncoderPair) -> None:
    ids = exact.doc_ids[::7]
    got = {p.payload["doc_id"]: p.sparse for p in cran_memory.store.retrieve(cran_memory.name, [point_id(i) for i in ids], with_vectors=True)}
    assert len(got) == len(ids)
    want = [exact.doc_vectors[exact.doc_ids.index(i)] for i in ids]
    assert_vectors_close([got[i] for i in ids], want, tiny_pair.document.mlm.vocab_size, "memory vs edge")


def test_payload(cran_edge: IngestedStore, cranfield_corpus: list[dict[str, Any]]) -> None:
    doc = cranfield_corpus[0]
    (p,) = cran_edge.store.retrieve(cran_edge.name, [point_id(doc["_id"])])
    assert p.payload["doc_id"] == doc["_id"]
    assert p.payload["title"] == doc["title"]
    assert "text" not in p.payload  # store_text is off by default
    assert isinstance(p.payload["content_hash"], str)


def test_fingerprint_records_model_and_lengths(cran_edge: IngestedStore, cran_memory: IngestedStore, tiny_model_dir: Path) -> None:
    model = str(tiny_model_dir.resolve())
    for ing in (cran_edge, cran_memory):
        meta = ing.store.metadata(ing.name)
        assert meta["document"]["model"] == model
        assert meta["query"]["model"] == model
        assert meta["document"]["max_length"] == DOC_MAX_LENGTH
        assert meta["query"]["max_length"] == QUERY_MAX_LENGTH
        assert meta["document"]["long_docs"] == "truncate"
        assert meta["document"]["top_k"] is None and meta["document"]["threshold"] is None
        assert meta["library"] == "splade_qdrant" and meta["version"]
        assert ing.store.spec(ing.name).sparse_name == meta["sparse_vector"]


def test_reingest_same_file_writes_nothing(cran_edge: IngestedStore, tiny_pair: EncoderPair, cranfield_dir: Path) -> None:
    report = ingest(cran_edge.store, cran_edge.name, cranfield_dir / "corpus.jsonl", pair=tiny_pair, show_progress=False)
    assert report.documents == N_DOCS
    assert report.points_written == 0
    assert report.skipped_unchanged == N_DOCS
    assert report.points_in_collection == N_DOCS
    assert cran_edge.store.count(cran_edge.name) == N_DOCS


def test_ingest_with_other_document_settings_is_refused(cran_edge: IngestedStore, tiny_pair: EncoderPair,
                                                        cranfield_dir: Path) -> None:
    other = EncoderPair(SpladeEncoder(tiny_pair.document.mlm, max_length=128), tiny_pair.query)
    with pytest.raises(FingerprintMismatchError, match="max_length"):
        ingest(cran_edge.store, cran_edge.name, cranfield_dir / "corpus.jsonl", pair=other, show_progress=False)
    assert cran_edge.store.count(cran_edge.name) == N_DOCS


# --------------------------------------------------------------------------- search vs exact scoring


def test_edge_top10_equals_exact_scoring(edge_searcher: Searcher, exact: Exact) -> None:
    results = edge_searcher.search_batch(exact.queries, limit=TOP)
    assert len(results) == N_QUERIES
    for q, hits in enumerate(results):
        assert_matches_ranking(
            [(h.id, h.score) for h in hits], exact.ranking(q)[:TOP], lambda i, q=q: exact.score(q, i), what=f"query {q + 1}"
        )


def test_single_search_equals_batch(edge_searcher: Searcher, exact: Exact) -> None:
    batch = edge_searcher.search_batch(exact.queries[:3], limit=TOP)
    for q, (text, hits) in enumerate(zip(exact.queries[:3], batch)):
        single = edge_searcher.search(text, limit=TOP)
        assert_matches_ranking([(h.id, h.score) for h in single], [(h.id, h.score) for h in hits],
                               lambda i, q=q: exact.score(q, i), what=f"single vs batch {q + 1}")


def test_searcher_query_vectors_are_the_pairs(edge_searcher: Searcher, exact: Exact) -> None:
    vocab = edge_searcher.encoder.mlm.vocab_size
    assert_vectors_close(edge_searcher.encode(exact.queries[:5]), exact.query_vectors[:5], vocab, "searcher queries")


def test_edge_and_memory_congruent(cran_edge: IngestedStore, cran_memory: IngestedStore, exact: Exact) -> None:
    """The same sparse queries on both engines: same top-10 ids (up to ties) and scores."""
    for q, vec in enumerate(exact.query_vectors):
        query = SparseQuery(vec, "splade")
        edge = [(p.payload["doc_id"], p.score) for p in cran_edge.store.query(cran_edge.name, query, limit=TOP)]
        mem = [(p.payload["doc_id"], p.score) for p in cran_memory.store.query(cran_memory.name, query, limit=TOP)]
        assert_matches_ranking(mem, edge, lambda i, q=q: exact.score(q, i), what=f"query {q + 1} memory vs edge")
        for (_, se), (_, sm) in zip(edge, mem):
            assert abs(se - sm) <= SCORE_TOL


def test_searcher_on_memory_equals_edge(cran_memory: IngestedStore, tiny_pair: EncoderPair, edge_searcher: Searcher,
                                        exact: Exact) -> None:
    mem_searcher = Searcher(cran_memory.store, cran_memory.name, query_encoder=tiny_pair.query)
    mem = mem_searcher.search_batch(exact.queries[:5], limit=TOP)
    edge = edge_searcher.search_batch(exact.queries[:5], limit=TOP)
    for q, (m, e) in enumerate(zip(mem, edge)):
        assert_matches_ranking([(h.id, h.score) for h in m], [(h.id, h.score) for h in e],
                               lambda i, q=q: exact.score(q, i), what=f"query {q + 1}")


def test_search_with_doc_id_filter(edge_searcher: Searcher, exact: Exact) -> None:
    ranking = exact.ranking(0)
    allowed = [d for d, _ in ranking[5:40:2]]  # skips the best documents
    hits = edge_searcher.search(exact.queries[0], limit=TOP, filter={"doc_id": allowed})
    assert {h.id for h in hits} <= set(allowed)
    reference = [(d, s) for d, s in ranking if d in set(allowed)][:TOP]
    assert_matches_ranking([(h.id, h.score) for h in hits], reference, lambda i: exact.score(0, i), what="filtered")
    (only,) = edge_searcher.search(exact.queries[0], limit=TOP, filter={"doc_id": allowed[3]})
    assert only.id == allowed[3]


def test_offset_pages_through_the_ranking(edge_searcher: Searcher, exact: Exact) -> None:
    first, = edge_searcher.search_batch([exact.queries[1]], limit=20)
    page, = edge_searcher.search_batch([exact.queries[1]], limit=10, offset=10)
    assert [h.id for h in page] == [h.id for h in first[10:]]


# --------------------------------------------------------------------------- fingerprint checks at search time


@pytest.fixture(scope="module")
def moved_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """splade-tiny at another path (symlinked files): the same model, found elsewhere."""
    d = tmp_path_factory.mktemp("moved") / "splade-tiny-copy"
    d.mkdir()
    for f in tiny_model_dir.iterdir():
        (d / f.name).symlink_to(f.resolve())
    return d


@pytest.fixture(scope="module")
def other_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """splade-tiny with one more (unused) config field: the same vectors, but another model by content."""
    d = tmp_path_factory.mktemp("other") / "splade-tiny-other"
    d.mkdir()
    for f in tiny_model_dir.iterdir():
        if f.name != "config.json":
            (d / f.name).symlink_to(f.resolve())
    config = json.loads((tiny_model_dir / "config.json").read_text(encoding="utf-8"))
    (d / "config.json").write_text(json.dumps({**config, "note": "a different model"}), encoding="utf-8")
    return d


def test_searcher_loads_recorded_query_model(cran_edge: IngestedStore, edge_searcher: Searcher, exact: Exact) -> None:
    default = Searcher(cran_edge.store, cran_edge.name, device="cpu")
    assert default.encoder.name == edge_searcher.encoder.name
    assert default.encoder.max_length == QUERY_MAX_LENGTH
    assert_matches_ranking([(h.id, h.score) for h in default.search(exact.queries[2])],
                           [(h.id, h.score) for h in edge_searcher.search(exact.queries[2])],
                           lambda i: exact.score(2, i), what="recorded model")


def test_searcher_accepts_a_moved_model(cran_edge: IngestedStore, moved_model: Path, edge_searcher: Searcher, exact: Exact) -> None:
    """Models compare by content (config, tokenizer, weights), not by path (issue 16 item 8)."""
    moved = Searcher(cran_edge.store, cran_edge.name, query_model=str(moved_model), device="cpu")
    assert moved.encoder.name == str(moved_model.resolve())
    got = moved.search(exact.queries[3], limit=TOP)
    want = edge_searcher.search(exact.queries[3], limit=TOP)
    assert_matches_ranking([(h.id, h.score) for h in got], [(h.id, h.score) for h in want],
                           lambda i: exact.score(3, i), what="moved model")


def test_searcher_refuses_other_query_model(cran_edge: IngestedStore, other_model: Path, edge_searcher: Searcher,
                                            exact: Exact) -> None:
    with pytest.raises(FingerprintMismatchError) as info:
        Searcher(cran_edge.store, cran_edge.name, query_model=str(other_model), device="cpu")
    assert "allow_model_mismatch" in str(info.value)
    accepted = Searcher(cran_edge.store, cran_edge.name, query_model=str(other_model), device="cpu", allow_model_mismatch=True)
    got = accepted.search(exact.queries[3], limit=TOP)
    want = edge_searcher.search(exact.queries[3], limit=TOP)
    assert_matches_ranking([(h.id, h.score) for h in got], [(h.id, h.score) for h in want],
                           lambda i: exact.score(3, i), what="other model")


# --------------------------------------------------------------------------- quality


def test_ndcg_at_10_matches_reference(edge_searcher: Searcher, cranfield_dir: Path,
                                      cranfield_queries: list[dict[str, Any]]) -> None:
    """REFERENCE.md: SPLADE (splade-tiny) on Cranfield, nDCG@10 = 0.3634 (the project must be within 0.002)."""
    ir_measures = pytest.importorskip("ir_measures")
    qrels = list(ir_measures.read_trec_qrels(_qrels_trec(cranfield_dir)))
    judged = {q.query_id for q in qrels}
    queries = [q for q in cranfield_queries if str(q["_id"]) in judged]
    results = edge_searcher.search_batch([q["text"] for q in queries], limit=TOP)
    run = [
        ir_measures.ScoredDoc(str(q["_id"]), h.id, h.score) for q, hits in zip(queries, results) for h in hits
    ]
    ndcg = ir_measures.calc_aggregate([ir_measures.nDCG @ 10], qrels, run)[ir_measures.nDCG @ 10]
    assert abs(ndcg - 0.3634) <= 0.002, ndcg


def _qrels_trec(dataset: Path) -> str:
    lines = []
    with (dataset / "qrels" / "test.tsv").open(encoding="utf-8") as fh:
        next(fh)  # header
        for line in fh:
            qid, did, rel = line.rstrip("\n").split("\t")
            lines.append(f"{qid} 0 {did} {rel}")
    return "\n".join(lines)
