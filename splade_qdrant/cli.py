"""The ``splade-qdrant`` command line: ingest, search, info (and eval).

User mistakes (bad options, missing model or collection, bad input lines) print one line on
stderr and exit with status 2; an interrupted run exits 130. Use ``--verbose`` for logs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .config import DEFAULT_BATCH_SIZE, DEFAULT_DOC_MAX_LENGTH, DEFAULT_LONG_DOCS, DEFAULT_QUERY_MAX_LENGTH, LONG_DOCS_MODES
from .errors import SpladeQdrantError

__all__ = ["build_parser", "main"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _store_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("store (default: embedded Qdrant Edge in $SPLADE_QDRANT_STORE or ./splade_qdrant_data)")
    g.add_argument("--collection", "-c", required=True, help="collection name")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--store", metavar="DIR", help="embedded store directory (or ':memory:')")
    where.add_argument("--url", metavar="URL", help="Qdrant server URL (default $QDRANT_URL)")
    g.add_argument("--api-key", metavar="KEY", help="Qdrant API key (default $QDRANT_API_KEY)")
    g.add_argument("--grpc", action="store_true", help="talk gRPC to the server")


def _model_options(p: argparse.ArgumentParser, *, documents: bool) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="splade-qdrant", description="SPLADE learned sparse retrieval on Qdrant.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="encode a JSONL / BEIR corpus and upsert it")
    p.add_argument("path", help="corpus.jsonl: one JSON object per line with _id|id, text, optional title")
    _store_options(p)
    _model_options(p, documents=True)
    p.add_argument("--dense-model", metavar="M", help="also store dense vectors from this sentence-transformers model (id or directory) for hybrid search")
    p.add_argument("--store-text", action="store_true", help="keep the text in the payload")
    p.add_argument("--insert-only", action="store_true", help="never overwrite existing documents")
    p.add_argument("--reencode", action="store_true", help="re-encode documents even when stored unchanged")
    p.add_argument("--skip-bad", action="store_true", help="skip and report malformed lines instead of stopping")
    p.add_argument("--sparse-datatype", choices=("float32", "float16", "uint8"), default="float32", help="sparse weight storage (default %(default)s)")
    p.add_argument("--allow-idf", action="store_true", help="use Qdrant's IDF modifier (wrong for SPLADE; experiments only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = sub.add_parser("search", help="search a collection")
    p.add_argument("text", help="query text")
    _store_options(p)
    _model_options(p, documents=False)
    p.add_argument("--limit", "-k", type=int, default=10, help="hits to return (default %(default)s)")
    p.add_argument("--offset", type=int, default=0, help="hits to skip (paging)")
    p.add_argument("--score-threshold", type=float, help="drop hits scoring below this")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE", help="payload filter; repeat a key for any-of; values parse as JSON when they can")
    p.add_argument("--allow-model-mismatch", action="store_true", help="accept a query model other than the recorded one")
    modes = p.add_mutually_exclusive_group()
    modes.add_argument("--hybrid", action="store_true", help="fuse SPLADE and dense results in the engine (collection needs dense vectors)")
    modes.add_argument("--dense", action="store_true", help="dense vectors only")
    p.add_argument("--fusion", choices=("rrf", "dbsf"), default="rrf", help="hybrid fusion (default %(default)s)")
    p.add_argument("--rrf-k", type=int, default=60, help="RRF constant, ranks from 1: Σ 1/(k + rank) (default %(default)s)")
    p.add_argument("--weights", metavar="S,D", help="RRF weights of the sparse and dense sides, e.g. 1,0.5")
    p.add_argument("--prefetch-limit", type=int, help="candidates per side (default max(4 × limit, 100))")
    p.add_argument("--explain", action="store_true", help="show the matching terms and their contributions")
    p.add_argument("--json", action="store_true", help="print hits as JSON (hybrid hits carry a score breakdown)")

    p = sub.add_parser("eval", help="retrieval quality (nDCG@10, MRR@10, R@100) on a BEIR-layout dataset")
    p.add_argument("dataset", help="folder with queries.jsonl, qrels/test.tsv (and corpus.jsonl for --ingest)")
    _store_options(p)
    _model_options(p, documents=True)
    p.add_argument("--dense-model", metavar="M", help="with --ingest: also store dense vectors from this model")
    p.add_argument("--ingest", action="store_true", help="ingest corpus.jsonl first if the collection does not exist")
    p.add_argument("--mode", choices=("sparse", "dense", "hybrid", "all"), default="sparse", help="what to evaluate (default %(default)s; all = what the collection supports)")
    p.add_argument("--sweep", action="store_true", help="hybrid tuning: RRF k in {2,10,60}, weightings, DBSF, each side alone")
    p.add_argument("--fusion", choices=("rrf", "dbsf"), default="rrf", help="hybrid fusion (default %(default)s)")
    p.add_argument("--rrf-k", type=int, default=60, help="RRF constant, ranks from 1 (default %(default)s)")
    p.add_argument("--weights", metavar="S,D", help="RRF weights of the sparse and dense sides")
    p.add_argument("--limit", type=int, default=100, help="hits per query (default %(default)s; >= 1000 adds R@1000)")
    p.add_argument("--run-file", metavar="PATH", help="write the run(s) in TREC format")
    p.add_argument("--json", action="store_true", help="print metrics as JSON")

    p = sub.add_parser("info", help="describe a collection")
    _store_options(p)
    p.add_argument("--json", action="store_true", help="print as JSON")
    return parser


def parse_filters(items: Sequence[str]) -> dict[str, Any] | None:
    """``["lang=en", "year=2020", "year=2021"]`` → ``{"lang": "en", "year": [2020, 2021]}``."""
    from .errors import ConfigError

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
    from .errors import ConfigError

    if text is None:
        return None
    try:
        weights = [float(x) for x in text.split(",")]
    except ValueError:
        raise ConfigError(f"--weights expects two numbers like 1,0.5, got {text!r}") from None
    if len(weights) != 2:
        raise ConfigError(f"--weights expects two numbers (sparse,dense), got {text!r}")
    return weights


def _open(args: argparse.Namespace, **encoder: Any) -> Any:
    from .collection import SpladeQdrant

    return SpladeQdrant(args.collection, store=args.store, url=args.url, api_key=args.api_key, prefer_grpc=args.grpc, **encoder)


def _encoders_from_args(args: argparse.Namespace) -> Any:
    """A SpladeQdrant with every encoder option of ingest/eval."""
    return _open(
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


def _cmd_ingest(args: argparse.Namespace) -> int:
    sq = _encoders_from_args(args)
    with sq:
        report = sq.ingest(
            args.path,
            store_text=args.store_text,
            insert_only=args.insert_only,
            skip_unchanged=not args.reencode,
            skip_bad=args.skip_bad,
            sparse_datatype=args.sparse_datatype,
            allow_idf=args.allow_idf,
            show_progress=False if args.no_progress else None,
        )
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.summary())
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    sq = _open(args, model=args.model, query_model=args.query_model, device=args.device, half=args.half,
               batch_size=args.batch_size, allow_model_mismatch=args.allow_model_mismatch,
               **({"query_max_length": args.query_max_length} if args.query_max_length else {}))
    mode = "hybrid" if args.hybrid else "dense" if args.dense else "sparse"
    with sq:
        hits = sq.search(
            args.text,
            limit=args.limit,
            offset=args.offset,
            score_threshold=args.score_threshold,
            filter=parse_filters(args.filter),
            mode=mode,
            fusion=args.fusion,
            rrf_k=args.rrf_k,
            weights=parse_weights(args.weights),
            prefetch_limit=args.prefetch_limit,
            explain=args.explain,
            breakdown=mode == "hybrid",
        )
    if args.json:
        print(json.dumps([h.as_dict() for h in hits], indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("no hits")
    for rank, h in enumerate(hits, start=args.offset + 1):
        label = h.payload.get("title") or h.payload.get("text") or ""
        label = " ".join(str(label).split())[:70]
        extra = ""
        if h.breakdown is not None:
            b = h.breakdown
            extra = f"  [sparse #{b.sparse_rank or '-'} dense #{b.dense_rank or '-'}]"
        print(f"{rank:>3}  {h.score:9.4f}  {h.id:<12} {label}{extra}")
        if h.explanation is not None:
            terms = ", ".join(f"{m.term} {m.contribution:.2f}" for m in h.explanation[:8])
            print(f"{'':16}matched: {terms}")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    with _open(args) as sq:
        info = sq.info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    fp = info["fingerprint"]
    print(f"collection {info['collection']} in {info['store']}")
    print(f"  points:          {info['points']}")
    print(f"  sparse vector:   {info['sparse_vector']} ({info['sparse_datatype']}, idf={info['idf']})")
    print(f"  dense vector:    {info['dense']}")
    for side in ("document", "query"):
        s = fp.get(side) or {}
        print(f"  {side + ' encoder:':<17}{s.get('model')} (max_length={s.get('max_length')}, top_k={s.get('top_k')}, threshold={s.get('threshold')})")
    print(f"  built by:        splade_qdrant {fp.get('version')} on {fp.get('created')}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .errors import ConfigError
    from .evaluate import RunConfig, evaluate, sweep_configs

    sq = _encoders_from_args(args)
    with sq:
        if args.ingest and not sq.store.collection_exists(args.collection):
            corpus = Path(args.dataset) / "corpus.jsonl"
            report = sq.ingest(corpus, show_progress=None)
            print(report.summary(), file=sys.stderr)
        has_dense = sq.store.spec(args.collection).dense is not None
        if args.sweep:
            if not has_dense:
                raise ConfigError("--sweep tunes hybrid fusion and needs a collection with dense vectors (--dense-model)")
            configs = sweep_configs()
        else:
            modes = ["sparse", "dense", "hybrid"] if args.mode == "all" else [args.mode]
            if args.mode == "all" and not has_dense:
                modes = ["sparse"]
            weights = parse_weights(args.weights)
            configs = [
                RunConfig(m, args.fusion, args.rrf_k, None if weights is None else (weights[0], weights[1]), name=m)  # type: ignore[arg-type]
                for m in modes
            ]
        result = evaluate(sq.searcher, args.dataset, configs=configs, limit=args.limit, run_file=args.run_file)
    print(json.dumps(result.as_json(), indent=2) if args.json else result.table())
    return 0


_COMMANDS = {"ingest": _cmd_ingest, "search": _cmd_search, "info": _cmd_info, "eval": _cmd_eval}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``splade-qdrant`` and ``python -m splade_qdrant``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _COMMANDS[args.command](args)
    except SpladeQdrantError as exc:
        print(f"splade-qdrant {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"splade-qdrant {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
