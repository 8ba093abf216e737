"""Options and parsers shared by the ``splade-qdrant`` subcommands."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from typing import Any

from ..config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DOC_MAX_LENGTH,
    DEFAULT_LONG_DOCS,
    DEFAULT_QUERY_MAX_LENGTH,
    LONG_DOCS_MODES,
)
from ..fusion import DEFAULT_RRF_K

__all__ = [
    "encoder_options", "encoders_from_args", "fusion_options", "model_options", "open_collection", "open_store_from_args",
    "parse_filters", "parse_weights", "store_options",
]


def store_options(p: argparse.ArgumentParser, *, collection: bool = True) -> None:
    g = p.add_argument_group("store (default: embedded Qdrant Edge in $SPLADE_QDRANT_STORE or ./splade_qdrant_data)")
    if collection:
        g.add_argument("--collection", "-c", required=True, help="collection name")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--store", metavar="DIR", help="embedded store directory (or ':memory:')")
    where.add_argument("--url", metavar="URL", help="Qdrant server URL (default $QDRANT_URL)")
    g.add_argument("--api-key", metavar="KEY", help="Qdrant API key (default $QDRANT_API_KEY)")
    g.add_argument("--grpc", action="store_true", default=None, help="talk gRPC to the server (default $SPLADE_QDRANT_PREFER_GRPC or REST)")
    g.add_argument("--timeout", type=float, metavar="SECONDS", help="server request timeout (default $SPLADE_QDRANT_TIMEOUT or 60)")
    g.add_argument("--retries", type=int, metavar="N", help="tries of a transiently failing server request, with doubling backoff (default $SPLADE_QDRANT_RETRIES or 4)")
    g.add_argument("--ca-cert", metavar="FILE", help="PEM file of the CA that signed an https:// server's certificate (default $SPLADE_QDRANT_CA_CERT or the system CAs)")
    g.add_argument("--no-tls-verify", dest="tls_verify", action="store_false", default=None, help="do not check the server's TLS certificate (test servers only)")


def model_options(p: argparse.ArgumentParser, *, documents: bool) -> None:
    g = p.add_argument_group("encoders")
    g.add_argument("--model", "-m", help="preset, Hub id or directory for both sides (default: efficient-splade-VI-BT-large)")
    if documents:
        g.add_argument("--doc-model", help="document encoder (Hub id or directory)")
        g.add_argument("--doc-max-length", type=int, default=DEFAULT_DOC_MAX_LENGTH, help="document tokens incl. [CLS]/[SEP] (default %(default)s)")
        g.add_argument("--doc-top-k", type=int, help="keep at most K terms per document vector")
        g.add_argument("--doc-threshold", type=float, help="drop document weights below this")
        g.add_argument("--long-docs", choices=LONG_DOCS_MODES, default=DEFAULT_LONG_DOCS, help="documents over --doc-max-length: keep the first window and add the later windows' terms at a quarter weight (first-plus; best on real collections), max-pool all windows into one vector (window; inflates long documents), store each window as its own point and group hits by document (chunk), or keep the first window (truncate, as the published SPLADE numbers do); default %(default)s")
        g.add_argument("--window-overlap", type=int, help="tokens shared by consecutive windows of a long document (default: a quarter window)")
    recorded = "default: what the collection recorded at ingestion, else"
    g.add_argument("--query-top-k", type=int, help=f"keep at most K terms per query vector ({recorded} all)")
    g.add_argument("--query-threshold", type=float, help=f"drop query weights below this ({recorded} none)")
    g.add_argument("--query-model", help="query encoder (Hub id or directory); default: the one the collection recorded")
    g.add_argument("--query-max-length", type=int, help=f"query tokens incl. [CLS]/[SEP] ({recorded} {DEFAULT_QUERY_MAX_LENGTH}; a different value is refused)")
    g.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="sequences per forward pass (default %(default)s)")
    g.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: best available)")
    g.add_argument("--half", action="store_true", help="bfloat16/float16 on GPU")


def fusion_options(p: argparse.ArgumentParser) -> None:
    """--fusion, --rrf-k and --weights (search and eval)."""
    p.add_argument("--fusion", choices=("rrf", "dbsf"), default="rrf", help="hybrid fusion (default %(default)s)")
    p.add_argument("--rrf-k", type=int, default=DEFAULT_RRF_K, help="RRF constant, ranks from 1: Σ w/(k + rank) (default %(default)s)")
    p.add_argument("--weights", metavar="S,D", help="RRF weights of the sparse and dense sides, e.g. 1,0.5")


def parse_filters(items: Sequence[str]) -> dict[str, Any] | None:
    """``--filter`` values → a simple filter.

    ``KEY=VALUE`` compares the string VALUE (what a JSONL id or text field holds);
    ``KEY:=JSON`` compares a JSON value: a number, true/false, a "string" or a list of them
    (any-of). Repeating a key means any of its values.

    >>> parse_filters(["doc_id=1", "lang=en", "year:=1960", 'year:=[1961, "x"]'])
    {'doc_id': '1', 'lang': 'en', 'year': [1960, 1961, 'x']}
    """
    from ..errors import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        typed = key.endswith(":")
        key = key[:-1] if typed else key
        if not sep or not key:
            raise ConfigError(f"--filter expects KEY=STRING or KEY:=JSON, got {item!r}")
        value: Any = raw
        if typed:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                raise ConfigError(f"--filter {key}:= expects a JSON value (1960, true, \"text\" or a list), got {raw!r}; use {key}={raw} for a string") from None
            values = value if isinstance(value, list) else [value]
            bad = [v for v in values if isinstance(v, float) or not isinstance(v, (str, int))]
            if bad or not values:
                raise ConfigError(f"--filter {key}:= matches strings, integers and true/false exactly, got {raw!r}")
        if key in out:
            prev = out[key]
            prev = prev if isinstance(prev, list) else [prev]
            out[key] = [*prev, *(value if isinstance(value, list) else [value])]
        else:
            out[key] = value
    return out or None


def string_filters_that_look_typed(items: Sequence[str]) -> list[str]:
    """The ``KEY=VALUE`` filters whose VALUE would parse as a JSON number or boolean (a hint
    when a search finds nothing: ``year=1960`` compares the string "1960").

    >>> string_filters_that_look_typed(["year=1960", "lang=en", "n:=3"])
    ['year=1960']
    """
    out = []
    for item in items:
        key, _, raw = item.partition("=")
        if key.endswith(":"):
            continue
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(parsed, (int, float)):
            out.append(item)
    return out


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
    if not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
        raise ConfigError(f"--weights expects two finite numbers >= 0, not both 0 (sparse,dense), got {text!r}")
    return weights


def open_store_from_args(args: argparse.Namespace) -> Any:
    """The store the --store / --url / --api-key / --grpc / --timeout / --retries / TLS options name."""
    from ..store import open_store

    return open_store(
        args.store, url=args.url, api_key=args.api_key, prefer_grpc=args.grpc, timeout_s=args.timeout,
        retries=args.retries, ca_cert=args.ca_cert, verify=args.tls_verify,
    )


def encoder_options(args: argparse.Namespace) -> Any:
    """The :class:`~splade_qdrant.options.EncoderOptions` of the parsed encoder options (validated;
    options a subcommand does not have take their defaults)."""
    from ..options import EncoderOptions

    def get(name: str, default: Any = None) -> Any:
        return getattr(args, name, default)

    return EncoderOptions(
        model=get("model"), doc_model=get("doc_model"), query_model=get("query_model"),
        doc_max_length=get("doc_max_length", DEFAULT_DOC_MAX_LENGTH), query_max_length=get("query_max_length"),
        long_docs=get("long_docs", DEFAULT_LONG_DOCS), window_overlap=get("window_overlap"), doc_top_k=get("doc_top_k"),
        doc_threshold=get("doc_threshold"), query_top_k=get("query_top_k"), query_threshold=get("query_threshold"),
        batch_size=get("batch_size", DEFAULT_BATCH_SIZE), device=get("device"), half=bool(get("half", False)),
    )


def open_collection(args: argparse.Namespace, *, options: Any = None, dense_model: str | None = None,
                    allow_model_mismatch: bool = False) -> Any:
    """A SpladeQdrant on the store the arguments name (nothing loads until used)."""
    from ..collection import SpladeQdrant

    return SpladeQdrant(
        args.collection, store=open_store_from_args(args), options=options,
        dense_model=dense_model, allow_model_mismatch=allow_model_mismatch,
    )


def encoders_from_args(args: argparse.Namespace) -> Any:
    """A SpladeQdrant with every encoder option of ingest/eval."""
    return open_collection(args, options=encoder_options(args), dense_model=args.dense_model)
