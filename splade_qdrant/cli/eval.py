"""``splade-qdrant eval``: retrieval quality on a BEIR-layout dataset."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..config import DEFAULT_EVAL_LIMIT
from ._common import (
    encoders_from_args,
    fusion_options,
    model_options,
    parse_weights,
    store_options,
)

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``eval`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("eval", help="retrieval quality (nDCG@10, MRR@10, R@100) on a BEIR-layout dataset")
    p.add_argument("dataset", help="folder with queries.jsonl, qrels/test.tsv (and corpus.jsonl for --ingest)")
    store_options(p)
    model_options(p, documents=True)
    p.add_argument("--dense-model", metavar="M", help="with --ingest: also store dense vectors from this model")
    p.add_argument("--ingest", action="store_true", help="ingest corpus.jsonl first if the collection does not exist")
    p.add_argument("--mode", choices=("sparse", "dense", "hybrid", "all"), default="sparse", help="what to evaluate (default %(default)s; all = what the collection supports)")
    p.add_argument("--sweep", action="store_true", help="hybrid tuning: RRF k in {2,10,60}, weightings, DBSF, each side alone")
    fusion_options(p)
    p.add_argument("--limit", type=int, default=DEFAULT_EVAL_LIMIT, help="hits per query (default %(default)s; >= 1000 adds R@1000)")
    p.add_argument("--run-file", metavar="PATH", help="write the run(s) in TREC format")
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..evaluate import RunConfig, evaluate, sweep_configs

    sq = encoders_from_args(args)
    with sq:
        if args.ingest and not sq.store.collection_exists(args.collection):
            corpus = Path(args.dataset) / "corpus.jsonl"
            report = sq.ingest(corpus, show_progress=None)
            print(report.summary(), file=sys.stderr)
        has_dense = sq.store.spec(args.collection).dense is not None
        if args.sweep:
            if not has_dense:
                raise ConfigError("--sweep tunes hybrid fusion and needs a collection with dense vectors (--dense-model)")
            configs = sweep_configs()
        else:
            modes = ["sparse", "dense", "hybrid"] if args.mode == "all" else [args.mode]
            if args.mode == "all" and not has_dense:
                modes = ["sparse"]
            weights = parse_weights(args.weights)
            configs = [
                RunConfig(m, args.fusion, args.rrf_k, None if weights is None else (weights[0], weights[1]), name=m)  # type: ignore[arg-type]
                for m in modes
            ]
        result = evaluate(sq.searcher, args.dataset, configs=configs, limit=args.limit, run_file=args.run_file)
    print(json.dumps(result.as_json(), indent=2) if args.json else result.table())
    return 0
