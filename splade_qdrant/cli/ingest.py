"""``splade-qdrant ingest``: encode a corpus and upsert it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import encoders_from_args, model_options, store_options
from ._ray_ingest import add_ray_options, check_ray_args, run_ray

__all__ = ["register", "run"]


def register(sub: Any) -> None:
    """Add the ``ingest`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("ingest", help="encode a JSONL / BEIR corpus and upsert it")
    p.add_argument("path", help="corpus.jsonl (or .jsonl.gz/.bz2/.zst): one JSON object per line with _id|id, text, optional title")
    store_options(p)
    model_options(p, documents=True)
    p.add_argument("--dense-model", metavar="M", help="also store dense vectors from this sentence-transformers model (id or directory) for hybrid search")
    p.add_argument("--store-text", action="store_true", help="keep the text in the payload (text stored by an earlier run stays on unchanged documents without it)")
    p.add_argument("--insert-only", action="store_true", help="never overwrite existing documents")
    p.add_argument("--reencode", action="store_true", help="re-encode and rewrite every document, even when stored unchanged (drops stored text unless --store-text)")
    p.add_argument("--delete-missing", action="store_true", help="delete stored documents that the input no longer has, so the collection mirrors it (never without this flag)")
    p.add_argument("--skip-bad", action="store_true", help="skip and report malformed lines instead of stopping")
    p.add_argument("--sparse-datatype", choices=("float32", "float16", "uint8"), help="sparse weight storage of a new collection (default float32; an existing one keeps what it recorded, a different value is refused)")
    p.add_argument("--allow-idf", action="store_true", default=None, help="use Qdrant's IDF modifier (wrong for SPLADE; experiments only)")
    c = p.add_argument_group("collection creation (a new collection; --index-field also indexes an existing one; other values than an existing collection's are refused)")
    c.add_argument("--index-field", action="append", default=[], metavar="FIELD[:TYPE]", help="payload index for a filtered field; TYPE keyword (default), integer, float, bool, datetime or uuid; repeatable")
    c.add_argument("--shards", type=int, metavar="N", help="server: shards of the collection (default: the server's)")
    c.add_argument("--replicas", type=int, metavar="N", help="server: copies of each shard (replication factor)")
    c.add_argument("--write-consistency", type=int, metavar="N", help="server: replicas that must acknowledge a write")
    c.add_argument("--on-disk", action="store_true", default=None, help="server: keep the sparse index and payloads on disk (memory-mapped)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, and no progress lines when stderr is not a terminal (those come every $SPLADE_QDRANT_PROGRESS_INTERVAL s, default 30)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_ray_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..documents import check_source

    check_source(args.path, skip_bad=args.skip_bad)  # a typo in the path fails before any model loads
    check_ray_args(args)
    if args.ray:
        return run_ray(args, creation_options)
    sq = encoders_from_args(args)
    with sq:
        creation_options(sq.store, args.collection, args)
        report = sq.ingest(
            args.path,
            store_text=args.store_text,
            insert_only=args.insert_only,
            skip_unchanged=not args.reencode,
            skip_bad=args.skip_bad,
            delete_missing=args.delete_missing,
            sparse_datatype=args.sparse_datatype,
            allow_idf=args.allow_idf,
            show_progress=False if args.no_progress else None,
        )
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.summary())
    return 0


def creation_options(store: Any, collection: str, args: argparse.Namespace) -> None:
    """Apply --index-field / --shards / --replicas / --write-consistency / --on-disk to ``store``:
    defaults for the collection ingest creates. An existing collection gains the payload indexes
    it lacks; server options or index types other than the ones it was created with are refused."""
    from ..store import ServerOptions, parse_index_field

    indexes = dict(parse_index_field(text) for text in args.index_field)
    server = ServerOptions(
        shards=args.shards, replicas=args.replicas, write_consistency=args.write_consistency,
        on_disk_sparse=args.on_disk, on_disk_payload=args.on_disk,
    )
    store.set_creation_defaults(server=server, payload_indexes=indexes)
    if (indexes or server.given()) and store.collection_exists(collection):
        from ..ingest.checks import check_creation_options

        # An existing collection keeps its server options (other values are refused) and gains missing indexes.
        check_creation_options(store.spec(collection), collection, server=server, payload_indexes=indexes)
        for name, kind in indexes.items():
            store.create_index(collection, name, kind)
