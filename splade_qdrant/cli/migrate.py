"""``splade-qdrant migrate``: copy a collection between stores (Edge directory, server, qdrant-client path)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..migrate import DEFAULT_MIGRATE_BATCH, DEFAULT_QUERIES, DEFAULT_SAMPLE

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``migrate`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser(
        "migrate",
        help="copy a collection to another store (embedded ↔ server ↔ qdrant-client path), resumable and verified",
        description="Copy a collection with its vectors, payloads, configuration, payload indexes and encoder "
        "fingerprint. Rerun to resume an interrupted copy: points already there are skipped. Verifies counts, "
        "a sample of vectors (bit-equal) and top-10 results at the end.",
    )
    p.add_argument("--collection", "-c", required=True, help="collection to copy")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-store", metavar="DIR", help="embedded store directory (or a qdrant-client local path, recognised by its meta.json)")
    src.add_argument("--from-url", metavar="URL", help="Qdrant server URL")
    dst = p.add_mutually_exclusive_group(required=True)
    dst.add_argument("--to-store", metavar="DIR", help="embedded store directory (an existing qdrant-client local path is recognised)")
    dst.add_argument("--to-url", metavar="URL", help="Qdrant server URL")
    dst.add_argument("--to-local-path", metavar="DIR", help="qdrant-client local-mode directory (QdrantClient(path=DIR))")
    p.add_argument("--from-api-key", metavar="KEY", help="API key of the source server")
    p.add_argument("--to-api-key", metavar="KEY", help="API key of the target server")
    p.add_argument("--to-collection", metavar="NAME", help="name in the target (default: the same)")
    c = p.add_argument_group("creation on a server target (default: the server's; never copied from an embedded store)")
    c.add_argument("--shards", type=int, metavar="N", help="shards of the new collection")
    c.add_argument("--replicas", type=int, metavar="N", help="copies of each shard (replication factor)")
    c.add_argument("--write-consistency", type=int, metavar="N", help="replicas that must acknowledge a write")
    c.add_argument("--on-disk", action="store_true", default=None, help="keep the sparse index and payloads on disk (memory-mapped)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_MIGRATE_BATCH, help="points per page (default %(default)s)")
    p.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="points compared bit for bit afterwards (default %(default)s)")
    p.add_argument("--queries", type=int, default=DEFAULT_QUERIES, help="sampled points run as top-10 queries on both sides (default %(default)s)")
    p.add_argument("--no-verify", action="store_true", help="skip the verification")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import CollectionNotFoundError
    from ..migrate import migrate, open_location
    from ..store import ServerOptions

    source = open_location(args.from_store, url=args.from_url, api_key=args.from_api_key)
    with source:
        if not source.collection_exists(args.collection):  # before a target directory is created
            raise CollectionNotFoundError(f"collection {args.collection!r} does not exist in {source.describe()}")
        target = open_location(args.to_store, url=args.to_url, api_key=args.to_api_key, local_path=args.to_local_path)
        with target:
            server = ServerOptions(
                shards=args.shards, replicas=args.replicas, write_consistency=args.write_consistency,
                on_disk_sparse=args.on_disk, on_disk_payload=args.on_disk,
            )
            if server.given():
                target.set_creation_defaults(server=server)  # the embedded store refuses them (ConfigError)
            report = migrate(
                source, target, args.collection, to_collection=args.to_collection, batch_size=args.batch_size,
                verify=not args.no_verify, sample=args.sample, queries=args.queries,
                show_progress=False if args.no_progress else None,
            )
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.summary())
    return 0
