"""Options and parsers shared by the ``splade-qdrant`` subcommands."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from ..config import DEFAULT_BATCH_SIZE, DEFAULT_DOC_MAX_LENGTH, DEFAULT_LONG_DOCS, DEFAULT_QUERY_MAX_LENGTH, LONG_DOCS_MODES

__all__ = ["encoders_from_args", "model_options", "open_collection", "parse_filters", "parse_weights", "store_options"]


def store_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("store (default: embedded Qdrant Edge in $SPLADE_QDRANT_STORE or ./splade_qdrant_data)")
    g.add_argument("--collection", "-c", required=True, help="collection name")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--store", metavar="DIR", help="embedded store directory (or ':memory:')")
    where.add_argument("--url", metavar="URL", help="Qdrant server URL (default $QDRANT_URL)")
    g.add_argument("--api-key", metavar="KEY", help="Qdrant API key (default $QDRANT_API_KEY)")
    g.add_argument("--grpc", action="store_true", help="talk gRPC to the server")


def model_options(p: argparse.ArgumentParser, *, documents: bool) -> None:
    g = p.add_argument_group("encoders")
    g.add_argument("--model", "-m", help="preset, Hub id or directory for both sides (default: efficient-splade-VI-BT-large)")
    if documents:
        g.add_argument("--doc-model", help="document encoder (Hub id or directory)")
        g.add_argument("--doc-max-length", type=int, default=DEFAULT_DOC_MAX_LENGTH, help="document tokens incl. [CLS]/[SEP] (default %(default)s)")
        g.add_argument("--doc-top-k", type=int, help="keep at most K terms per document vector")
        g.add_argument("--doc-threshold", type=float, help="drop document weights below this")
        g.add_argument("--long-docs", choices=LONG_DOCS_MODES, default=DEFAULT_LONG_DOCS, help="documents over --doc-max-length: max-pool overlapping windows into one vector (window), store each window as its own point and group hits by document (chunk), or keep the first window (truncate, as the published SPLADE numbers do); default %(default)s")
        g.add_argument("--window-overlap", type=int, help="tokens shared by consecutive windows of a long document (default: a quarter window)")
        g.add_argument("--query-top-k", type=int, help="keep at most K terms per query vector")
        g.add_argument("--query-threshold", type=float, help="drop query weights below this")
    g.add_argument("--query-model", help="query encoder (Hub id or directory); default: the one the collection recorded")
    g.add_argument("--query-max-length", type=int, default=None if not documents else DEFAULT_QUERY_MAX_LENGTH, help="query tokens incl. [CLS]/[SEP] (default %s)" % DEFAULT_QUERY_MAX_LENGTH)
    g.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="sequences per forward pass (default %(default)s)")
    g.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: best available)")
    g.add_argument("--half", action="store_true", help="bfloat16/float16 on GPU")


def parse_filters(items: Sequence[str]) -> dict[str, Any] | None:
    """``["lang=en", "year=2020", "year=2021"]`` → ``{"lang": "en", "year": [2020, 2021]}``."""
    from ..errors import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--filter expects KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key in out:
            prev = out[key]
            out[key] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[key] = value
    return out or None


def parse_weights(text: str | None) -> list[float] | None:
    """``"1,0.5"`` → ``[1.0, 0.5]``."""
    from ..errors import ConfigError

    if text is None:
        return None
    try:
        weights = [float(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"--weights expects two numbers like 1,0.5, got {text!r}") from None
    if len(weights) != 2:
        raise ConfigError(f"--weights expects two numbers (sparse,dense), got {text!r}")
    return weights


def open_collection(args: argparse.Namespace, **encoder: Any) -> Any:
    from ..collection import SpladeQdrant

    return SpladeQdrant(args.collection, store=args.store, url=args.url, api_key=args.api_key, prefer_grpc=args.grpc, **encoder)


def encoders_from_args(args: argparse.Namespace) -> Any:
    """A SpladeQdrant with every encoder option of ingest/eval."""
    return open_collection(
        args,
        model=args.model,
        doc_model=args.doc_model,
        query_model=args.query_model,
        doc_max_length=args.doc_max_length,
        query_max_length=args.query_max_length,
        long_docs=args.long_docs,
        window_overlap=args.window_overlap,
        doc_top_k=args.doc_top_k,
        doc_threshold=args.doc_threshold,
        query_top_k=args.query_top_k,
        query_threshold=args.query_threshold,
        batch_size=args.batch_size,
        device=args.device,
        half=args.half,
        dense_model=args.dense_model,
    )
