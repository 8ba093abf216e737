"""Hybrid search with the tiny random model and a callable dense encoder (no model files): the
fast tier's cover of the hybrid path, breakdowns and explanations on both backends.

``tests/test_hybrid.py`` (slow) does the same on splade-tiny + MiniLM over Cranfield documents.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from splade_qdrant.dense import DenseEncoder
from splade_qdrant.encoder import MaskedLM, SpladeEncoder
from splade_qdrant.fusion import rrf
from splade_qdrant.hits import SearchHit
from splade_qdrant.ingest import ingest
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher
from splade_qdrant.store import open_store

from .conftest import TINY_WORDS

DIM = 8
N_DOCS = 16
LIMIT = 5
QUERIES = ["wing lift", "shock wave pressure", "heat transfer boundary layer", "jet stream model"]


def _bag_of_words(texts: Sequence[str]) -> np.ndarray:
    """A deterministic dense 'model': word counts folded into DIM buckets (plus a floor, never zero)."""
    out = np.full((len(texts), DIM), 0.05, dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            if word in TINY_WORDS:
                out[row, TINY_WORDS.index(word) % DIM] += 1.0
    return out


@pytest.fixture(scope="module")
def docs() -> list[dict[str, str]]:
    rng = random.Random(7)
    return [{"_id": f"d{i}", "text": " ".join(rng.choices(TINY_WORDS[20:], k=rng.randint(3, 9)))} for i in range(N_DOCS)]


@pytest.fixture(params=["edge", "memory"], scope="module")
def searcher(request: pytest.FixtureRequest, tiny_mlm: MaskedLM, docs: list[dict[str, str]],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Searcher]:
    pair = EncoderPair(SpladeEncoder(tiny_mlm, max_length=16), SpladeEncoder(tiny_mlm, max_length=8))
    dense = DenseEncoder(_bag_of_words, dim=DIM, name="bag-of-words")
    store = open_store(tmp_path_factory.mktemp("hybrid") / "s") if request.param == "edge" else open_store(":memory:")
    report = ingest(store, "h", docs, pair=pair, dense=dense, show_progress=False)
    assert report.points_in_collection == N_DOCS
    yield Searcher(store, "h", query_encoder=pair.query, dense_encoder=dense)
    store.close()


def ranked(hits: list[SearchHit]) -> list[tuple[str, float]]:
    return [(h.id, h.score) for h in hits]


@pytest.mark.parametrize("query", QUERIES)
def test_hybrid_hits_are_the_fused_sides_with_their_breakdown(searcher: Searcher, query: str) -> None:
    hybrid = searcher.search(query, mode="hybrid", limit=LIMIT, breakdown=True)
    sparse = searcher.search(query, mode="sparse", limit=N_DOCS)
    dense = searcher.search(query, mode="dense", limit=N_DOCS)
    assert len(dense) == N_DOCS and sparse
    fused = dict(rrf([ranked(sparse), ranked(dense)], k=60))
    top = sorted(fused.values(), reverse=True)[:LIMIT]
    assert [h.score for h in hybrid] == pytest.approx(top, rel=1e-5)  # the best fused scores, in order (ties may swap ids)
    s_pos = {h.id: (r, h.score) for r, h in enumerate(sparse, start=1)}
    d_pos = {h.id: (r, h.score) for r, h in enumerate(dense, start=1)}
    for hit in hybrid:
        b = hit.breakdown
        assert b is not None and b.fused_score == hit.score
        assert math.isclose(hit.score, fused[hit.id], rel_tol=1e-5)
        assert (b.sparse_rank, b.dense_rank) == (s_pos.get(hit.id, (None,))[0], d_pos[hit.id][0])
        assert b.dense_score == pytest.approx(d_pos[hit.id][1], rel=1e-5)
        if b.sparse_rank is not None:
            assert b.sparse_score == pytest.approx(s_pos[hit.id][1], rel=1e-5)
        assert hit.as_dict()["breakdown"]["dense_rank"] == b.dense_rank


def test_explanations_sum_to_the_sparse_score(searcher: Searcher) -> None:
    for query in QUERIES:
        for hit in searcher.search(query, mode="sparse", limit=LIMIT, explain=True):
            assert hit.explanation and hit.breakdown is None
            total = sum(m.contribution for m in hit.explanation)
            assert total == pytest.approx(hit.score, rel=1e-4, abs=1e-6)
            assert [m.contribution for m in hit.explanation] == sorted((m.contribution for m in hit.explanation), reverse=True)


def test_breakdown_and_explanation_only_when_asked(searcher: Searcher) -> None:
    hits = searcher.search(QUERIES[0], mode="hybrid", limit=LIMIT)
    assert hits and all(h.breakdown is None and h.explanation is None for h in hits)
    assert all(set(h.as_dict()) == {"id", "score", "payload", "point_id"} for h in hits)


def test_no_dense_side_without_dense_vectors(tiny_mlm: MaskedLM, tmp_path: Path, docs: list[dict[str, str]]) -> None:
    from splade_qdrant.errors import ConfigError

    pair = EncoderPair(SpladeEncoder(tiny_mlm, max_length=16), SpladeEncoder(tiny_mlm, max_length=8))
    with open_store(tmp_path / "s") as store:
        ingest(store, "sparse-only", docs[:3], pair=pair, show_progress=False)
        with pytest.raises(ConfigError):
            Searcher(store, "sparse-only", query_encoder=pair.query).search(QUERIES[0], mode="hybrid")
