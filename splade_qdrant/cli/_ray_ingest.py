"""``splade-qdrant ingest --ray``: the options and the run of the distributed ingest (Ray Data)."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_ray_options", "check_ray_args", "run_ray"]


def add_ray_options(p: argparse.ArgumentParser) -> None:
    """The ``--ray`` option group of ``ingest``."""
    g = p.add_argument_group("distributed encoding on Ray Data (pip install 'splade-qdrant[ray]')")
    g.add_argument("--ray", action="store_true", help="encode on a Ray cluster: an actor pool of encoders; with --url the actors write to the server, else the vectors stream back to this process")
    g.add_argument("--ray-address", metavar="ADDR", help="cluster to join: auto, ray://HOST:10001 (default: start a local one)")
    g.add_argument("--workers", type=int, metavar="N", help="encoder actors, one model copy each (default 1)")
    g.add_argument("--gpus-per-worker", type=float, metavar="G", help="GPUs per actor (default 0: CPU; 1: one actor per GPU)")
    g.add_argument("--cpus-per-worker", type=float, metavar="C", help="CPU slots (and torch threads) per actor (default 1)")


def check_ray_args(args: argparse.Namespace) -> None:
    """Refuse the Ray options without --ray, and ingest options the distributed ingest lacks."""
    from ..errors import ConfigError

    given = [name for name in ("ray_address", "workers", "gpus_per_worker", "cpus_per_worker") if getattr(args, name) is not None]
    if given and not args.ray:
        raise ConfigError(f"--{given[0].replace('_', '-')} needs --ray")
    if not args.ray:
        return
    unsupported = {
        "dense_model": "--dense-model", "insert_only": "--insert-only", "delete_missing": "--delete-missing",
        "allow_idf": "--allow-idf",
    }
    for name, flag in unsupported.items():
        if getattr(args, name, None):
            raise ConfigError(f"{flag} is not supported with --ray")
    if args.long_docs == "chunk":
        raise ConfigError("--long-docs chunk is not supported with --ray; use first-plus, window or truncate")


def run_ray(args: argparse.Namespace, creation_options: Any) -> int:
    """Run ``ingest --ray``; ``creation_options(store, collection, args)`` applies --shards etc."""
    from ..distributed import ingest_ray
    from ._common import encoder_options, open_store_from_args

    check_ray_args(args)
    store = open_store_from_args(args)
    with store:
        creation_options(store, args.collection, args)
        report = ingest_ray(
            args.collection, args.path, options=encoder_options(args), store=store,
            url=args.url, api_key=args.api_key, prefer_grpc=bool(args.grpc),
            workers=args.workers or 1, gpus_per_worker=args.gpus_per_worker or 0.0, cpus_per_worker=args.cpus_per_worker or 1.0,
            ray_address=args.ray_address, store_text=args.store_text, skip_unchanged=not args.reencode,
            skip_bad=args.skip_bad, sparse_datatype=args.sparse_datatype,
            show_progress=False if args.no_progress else None,
        )
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.summary())
    return 0
