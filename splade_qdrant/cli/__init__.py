"""The ``splade-qdrant`` command line.

One module per subcommand, each with ``register(subparsers)`` that adds its parser and sets
``handler``; this module only builds the parser and maps errors to exit codes. User mistakes
(bad options, missing model or collection, bad input lines) print one line on stderr and exit
with status 2; an interrupted run exits 130. Use ``--verbose`` for logs.

Example:
    >>> from splade_qdrant.cli import build_parser
    >>> build_parser().parse_args(["info", "-c", "cran"]).command
    'info'
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import SpladeQdrantError
from . import delete, drop, info, ingest, migrate, search, serve
from . import eval as eval_cmd
from . import list as list_cmd
from ._common import parse_filters, parse_weights

__all__ = ["EXIT_INTERRUPTED", "EXIT_USER_ERROR", "build_parser", "main", "parse_filters", "parse_weights"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# Each subcommand module: ``register(subparsers)``. New subcommands add their module here.
_SUBCOMMANDS = (ingest, search, eval_cmd, info, list_cmd, drop, delete, serve, migrate)


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full ``splade-qdrant`` parser."""
    parser = _Parser(prog="splade-qdrant", description="SPLADE learned sparse retrieval on Qdrant.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in _SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``splade-qdrant`` and ``python -m splade_qdrant``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except SpladeQdrantError as exc:
        print(f"splade-qdrant {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"splade-qdrant {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
