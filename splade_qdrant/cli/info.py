"""``splade-qdrant info``: describe a collection."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import open_collection, store_options

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``info`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("info", help="describe a collection")
    store_options(p)
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with open_collection(args) as sq:
        info = sq.info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    fp = info["fingerprint"]
    print(f"collection {info['collection']} in {info['store']}")
    print(f"  points:          {info['points']}")
    print(f"  sparse vector:   {info['sparse_vector']} ({info['sparse_datatype']}, idf={info['idf']})")
    print(f"  dense vector:    {info['dense']}")
    for side in ("document", "query"):
        s = fp.get(side) or {}
        print(f"  {side + ' encoder:':<17}{s.get('model')} (max_length={s.get('max_length')}, top_k={s.get('top_k')}, threshold={s.get('threshold')})")
    print(f"  built by:        splade_qdrant {fp.get('version')} on {fp.get('created')}")
    return 0
