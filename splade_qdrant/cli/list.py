"""``splade-qdrant list``: the collections in a store, with their point counts."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._common import open_store_from_args, store_options

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``list`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("list", help="list the collections in a store")
    store_options(p, collection=False)
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with open_store_from_args(args) as store:
        rows = [{"collection": name, "points": store.count(name)} for name in sorted(store.list_collections())]
        where = store.describe()
        root = getattr(store, "root", None)  # the embedded store's directory (never created by listing)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        missing = isinstance(root, Path) and not root.is_dir()
        print(f"no collections: {where} does not exist" if missing else f"no collections in {where}")
    else:
        width = max(len(r["collection"]) for r in rows)
        for r in rows:
            print(f"{r['collection']:<{width}}  {r['points']:>10} points")
    return 0
