"""``splade-qdrant serve``: the HTTP search and encoding service (needs the ``serve`` extra)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..errors import ConfigError, MissingDependencyError
from ._common import store_options

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``serve`` subcommand to ``sub`` (an argparse subparsers object)."""
    from ..service.settings import (
        DEFAULT_MAX_BATCH,
        DEFAULT_MAX_BODY_BYTES,
        DEFAULT_MAX_LIMIT,
        DEFAULT_MAX_WAIT_MS,
        ENV_AUTH_KEY,
    )

    p = sub.add_parser("serve", help="HTTP search and encoding service with a search page (pip install 'splade-qdrant[serve]')")
    store_options(p)
    g = p.add_argument_group("encoders (default: those the collection recorded)")
    g.add_argument("--model", "-m", help="model for POST /documents into a new collection (preset, Hub id or directory)")
    g.add_argument("--query-model", help="query encoder (Hub id or directory)")
    g.add_argument("--dense-model", metavar="M", help="dense model for a new hybrid collection")
    g.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: best available)")
    h = p.add_argument_group("HTTP")
    h.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s; 0.0.0.0 for all)")
    h.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    h.add_argument("--workers", type=int, default=1, help="worker processes (default 1; more need --url: an embedded store belongs to one process)")
    h.add_argument("--auth-key", metavar="KEY", help=f"require this client key as 'Authorization: Bearer KEY' or 'api-key: KEY' (default ${ENV_AUTH_KEY}; --api-key is the Qdrant server's key)")
    h.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN", help="allow browser calls from this origin (repeatable; default: CORS off)")
    h.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="request body cap (default %(default)s)")
    h.add_argument("--max-limit", type=int, default=DEFAULT_MAX_LIMIT, help="cap on limit + offset of a search (default %(default)s)")
    h.add_argument("--embed-side", choices=("document", "query"), default="document", help="default encoder side of POST /embed_sparse (default %(default)s)")
    h.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"), default="info", help="uvicorn log level")
    b = p.add_argument_group("micro-batching of concurrent queries")
    b.add_argument("--no-batching", action="store_true", help="one query per encoder call")
    b.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH, help="queries per batch at most (default %(default)s)")
    b.add_argument("--max-wait-ms", type=float, default=DEFAULT_MAX_WAIT_MS, help="wait for a batch to fill, ms, when other queries are in flight (default %(default)s; raise it on a slow CPU with many clients, see the README)")
    p.set_defaults(handler=run)


def settings_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~splade_qdrant.service.ServiceSettings` of parsed ``serve`` arguments."""
    from ..service.settings import ServiceSettings

    return ServiceSettings(
        collection=args.collection, store=args.store, url=args.url, api_key=args.api_key, prefer_grpc=args.grpc,
        timeout_s=args.timeout, retries=args.retries, ca_cert=args.ca_cert, verify=args.tls_verify,
        model=args.model, query_model=args.query_model, dense_model=args.dense_model, device=args.device,
        auth_key=args.auth_key, cors_origins=tuple(args.cors_origin), batching=not args.no_batching,
        max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_body_bytes=args.max_body_bytes,
        max_limit=args.max_limit, embed_side=args.embed_side,
    )


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        raise MissingDependencyError("uvicorn", "serve", "splade-qdrant serve") from None
    settings = settings_from_args(args)
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {args.port}")
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if args.workers > 1:
        if settings.url is None and not os.environ.get("QDRANT_URL"):
            raise ConfigError("--workers > 1 needs a Qdrant server (--url): an embedded store belongs to one process")
        from dataclasses import asdict

        from ..service.app import ENV_SETTINGS

        os.environ[ENV_SETTINGS] = json.dumps(asdict(settings))
        uvicorn.run("splade_qdrant.service.app:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level)
        return 0
    from ..service import create_app
    from ..service.state import open_served

    served = open_served(settings)  # store and option errors: one line, exit 2, before the server starts
    try:
        uvicorn.run(create_app(settings, collection=served), host=args.host, port=args.port, log_level=args.log_level)
    finally:
        served.close()
    return 0
