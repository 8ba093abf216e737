"""``splade-qdrant drop``: delete a whole collection (the command is the explicit request)."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import open_collection, store_options

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``drop`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("drop", help="delete a collection and all its points (no prompt: naming it is the request)")
    store_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with open_collection(args) as sq:
        points = sq.store.count(args.collection)
        sq.drop()
    print(f"dropped collection {args.collection!r} ({points} points)")
    return 0
