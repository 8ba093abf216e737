"""``splade-qdrant search``: search a collection."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..config import DEFAULT_LIMIT
from ._common import (
    encoder_options,
    fusion_options,
    model_options,
    open_collection,
    parse_filters,
    parse_weights,
    store_options,
    string_filters_that_look_typed,
)

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``search`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("search", help="search a collection")
    p.add_argument("text", help="query text")
    store_options(p)
    model_options(p, documents=False)
    p.add_argument("--limit", "-k", type=int, default=DEFAULT_LIMIT, help="hits to return (default %(default)s)")
    p.add_argument("--offset", type=int, default=0, help="hits to skip (paging)")
    p.add_argument("--score-threshold", type=float, help="drop hits scoring below this")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=STRING|KEY:=JSON", help="payload filter: KEY=STRING compares a string (doc_id=1 finds document \"1\"), KEY:=JSON a JSON value (year:=1960, flag:=true, year:=[1960,1961]); repeat a key for any-of")
    p.add_argument("--allow-model-mismatch", action="store_true", help="accept a query model other than the recorded one")
    modes = p.add_mutually_exclusive_group()
    modes.add_argument("--hybrid", action="store_true", help="fuse SPLADE and dense results in the engine (collection needs dense vectors)")
    modes.add_argument("--dense", action="store_true", help="dense vectors only")
    fusion_options(p)
    p.add_argument("--prefetch-limit", type=int, help="candidates per side (default max(4 × limit, 100))")
    p.add_argument("--explain", action="store_true", help="show the matching terms and their contributions")
    p.add_argument("--json", action="store_true", help="print hits as JSON (hybrid hits carry a score breakdown)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..options import check_search_options

    # Every argument is checked before the store opens or a model loads.
    options = encoder_options(args)
    filters = parse_filters(args.filter)
    weights = parse_weights(args.weights)
    mode = "hybrid" if args.hybrid else "dense" if args.dense else "sparse"
    check_search_options(limit=args.limit, offset=args.offset, score_threshold=args.score_threshold,
                         prefetch_limit=args.prefetch_limit, fusion=args.fusion, rrf_k=args.rrf_k, weights=weights)
    with open_collection(args, options=options, allow_model_mismatch=args.allow_model_mismatch) as sq:
        hits = sq.search(
            args.text,
            limit=args.limit,
            offset=args.offset,
            score_threshold=args.score_threshold,
            filter=filters,
            mode=mode,
            fusion=args.fusion,
            rrf_k=args.rrf_k,
            weights=weights,
            prefetch_limit=args.prefetch_limit,
            explain=args.explain,
            breakdown=mode == "hybrid",
        )
    if not hits and string_filters_that_look_typed(args.filter):
        shown = string_filters_that_look_typed(args.filter)[0]
        key, _, raw = shown.partition("=")
        print(f"splade-qdrant search: note: --filter {shown} compares the string {raw!r}; for a number use --filter {key}:={raw}",
              file=sys.stderr)
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
