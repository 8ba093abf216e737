"""``splade-qdrant search``: search a collection."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import model_options, open_collection, parse_filters, parse_weights, store_options

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``search`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("search", help="search a collection")
    p.add_argument("text", help="query text")
    store_options(p)
    model_options(p, documents=False)
    p.add_argument("--limit", "-k", type=int, default=10, help="hits to return (default %(default)s)")
    p.add_argument("--offset", type=int, default=0, help="hits to skip (paging)")
    p.add_argument("--score-threshold", type=float, help="drop hits scoring below this")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE", help="payload filter; repeat a key for any-of; values parse as JSON when they can")
    p.add_argument("--allow-model-mismatch", action="store_true", help="accept a query model other than the recorded one")
    modes = p.add_mutually_exclusive_group()
    modes.add_argument("--hybrid", action="store_true", help="fuse SPLADE and dense results in the engine (collection needs dense vectors)")
    modes.add_argument("--dense", action="store_true", help="dense vectors only")
    p.add_argument("--fusion", choices=("rrf", "dbsf"), default="rrf", help="hybrid fusion (default %(default)s)")
    p.add_argument("--rrf-k", type=int, default=60, help="RRF constant, ranks from 1: Σ 1/(k + rank) (default %(default)s)")
    p.add_argument("--weights", metavar="S,D", help="RRF weights of the sparse and dense sides, e.g. 1,0.5")
    p.add_argument("--prefetch-limit", type=int, help="candidates per side (default max(4 × limit, 100))")
    p.add_argument("--explain", action="store_true", help="show the matching terms and their contributions")
    p.add_argument("--json", action="store_true", help="print hits as JSON (hybrid hits carry a score breakdown)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    sq = open_collection(args, model=args.model, query_model=args.query_model, device=args.device, half=args.half,
               batch_size=args.batch_size, allow_model_mismatch=args.allow_model_mismatch,
               **({"query_max_length": args.query_max_length} if args.query_max_length else {}))
    mode = "hybrid" if args.hybrid else "dense" if args.dense else "sparse"
    with sq:
        hits = sq.search(
            args.text,
            limit=args.limit,
            offset=args.offset,
            score_threshold=args.score_threshold,
            filter=parse_filters(args.filter),
            mode=mode,
            fusion=args.fusion,
            rrf_k=args.rrf_k,
            weights=parse_weights(args.weights),
            prefetch_limit=args.prefetch_limit,
            explain=args.explain,
            breakdown=mode == "hybrid",
        )
    if args.json:
        print(json.dumps([h.as_dict() for h in hits], indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("no hits")
    for rank, h in enumerate(hits, start=args.offset + 1):
        label = h.payload.get("title") or h.payload.get("text") or ""
        label = " ".join(str(label).split())[:70]
        extra = ""
        if h.breakdown is not None:
            b = h.breakdown
            extra = f"  [sparse #{b.sparse_rank or '-'} dense #{b.dense_rank or '-'}]"
        print(f"{rank:>3}  {h.score:9.4f}  {h.id:<12} {label}{extra}")
        if h.explanation is not None:
            terms = ", ".join(f"{m.term} {m.contribution:.2f}" for m in h.explanation[:8])
            print(f"{'':16}matched: {terms}")
    return 0
