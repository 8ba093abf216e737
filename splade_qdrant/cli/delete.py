"""``splade-qdrant delete``: delete documents by their own ids (all points of each)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._common import open_collection, store_options

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``delete`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("delete", help="delete documents by id (the _id/id they were ingested with)")
    p.add_argument("ids", nargs="*", metavar="ID", help="document ids")
    p.add_argument("--ids-from", metavar="FILE", help="also delete the ids in FILE, one per line ('-' for stdin)")
    store_options(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=run)


def _read_ids(path: str) -> list[str]:
    import sys

    from ..errors import InputError

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--ids-from {path}: cannot read it ({exc.__class__.__name__}: {exc})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError

    ids = list(args.ids) + (_read_ids(args.ids_from) if args.ids_from else [])
    if not ids:
        raise ConfigError("name the documents to delete: ID... or --ids-from FILE")
    with open_collection(args) as sq:
        report = sq.delete(ids)
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.summary())
    return 0
