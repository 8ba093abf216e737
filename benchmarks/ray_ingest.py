"""Distributed ingest on Ray Data: documents/s with 1 and 2 encoder actors, against one process.

Vaswani documents (default 3,000), splade-tiny, truncation 256, into a fresh embedded store
each time (vectors stream back to this process, which writes them). Ray runs locally
(``ray.init(num_cpus=2)``); each actor holds one CPU slot and one torch thread. The single
process ingest uses both cores (two torch threads). A 32-document run measures the fixed
cost of a distributed ingest (actor start, model load, pipeline start); the wall time minus
the encoding time per actor is what the pipeline around the encoders costs; the actors' own
rate is documents per second of encoding time. Then the multi-GPU projection from
REFERENCE.md's H100 anchors.

    python benchmarks/ray_ingest.py [--n 3000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time

from _common import MODEL, SHARED, save, table

from splade_qdrant.distributed import ingest_ray
from splade_qdrant.ingest import ingest
from splade_qdrant.options import EncoderOptions
from splade_qdrant.pair import EncoderPair
from splade_qdrant.store import open_store

#: REFERENCE.md, GPU anchors: one H100, DistilBERT-shaped SPLADE document encoder, bf16, passages/s.
H100_ANCHORS = {"sentence-transformers SparseEncoder": 1491, "sorted ~32k-token batches, masked max first": 2044, "forward-only ceiling": 6161}
MSMARCO_PASSAGES = 8_841_823


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="Vaswani documents")
    args = ap.parse_args()
    docs = [json.loads(line) for line in open(SHARED / "datasets" / "vaswani" / "corpus.jsonl", encoding="utf-8")][: args.n]
    tmp = tempfile.mkdtemp(prefix="sq-ray-")
    corpus, small = f"{tmp}/corpus.jsonl", f"{tmp}/small.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in docs)
    with open(small, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in docs[:32])
    options = EncoderOptions(model=str(MODEL), doc_max_length=256, query_max_length=64, long_docs="truncate", device="cpu")
    rows, results = [], {}
    try:
        pair = EncoderPair.from_options(options)
        with open_store(f"{tmp}/single") as store:
            t0 = time.perf_counter()
            report = ingest(store, "v", corpus, pair=pair, show_progress=False)
            single = time.perf_counter() - t0
        results["single_process"] = {"seconds": single, "docs_per_s": args.n / single, "points": report.points_in_collection}
        rows.append(["one process (2 torch threads)", f"{single:.1f}", f"{args.n / single:.1f}", "—", f"{single - report.encode_seconds:.1f}",
                     f"{args.n / report.encode_seconds:.1f}"])

        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        results["ray_init_seconds"] = time.perf_counter() - t0
        for workers in (1, 2):
            runs = {}
            for name, path, n in (("small", small, 32), ("full", corpus, args.n)):
                t0 = time.perf_counter()
                rep = ingest_ray("v", path, options=options, store=f"{tmp}/ray{workers}-{name}", workers=workers, show_progress=False)
                runs[name] = time.perf_counter() - t0
                assert rep.points_in_collection == n, rep.as_dict()
            per_actor = args.n / rep.encode_seconds if rep.encode_seconds else 0.0
            results[f"ray_{workers}_workers"] = {
                "seconds": runs["full"], "docs_per_s": args.n / runs["full"], "fixed_cost_seconds": runs["small"],
                "actor_encode_seconds": rep.encode_seconds, "encode_docs_per_actor_second": per_actor,
                "seconds_outside_encoding": runs["full"] - rep.encode_seconds / workers,
            }
            rows.append([f"Ray Data, {workers} actor(s) × 1 CPU", f"{runs['full']:.1f}", f"{args.n / runs['full']:.1f}",
                         f"{runs['small']:.1f}", f"{runs['full'] - rep.encode_seconds / workers:.1f}", f"{per_actor:.1f}"])
        ray.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.n} Vaswani documents, splade-tiny, truncation 256; ray.init {results['ray_init_seconds']:.1f} s (not counted)")
    print(table(["way", "seconds", "documents/s", "fixed cost s (32 docs)", "s outside encoding", "encoder documents/s (per busy actor)"], rows))
    projection = []
    for label, per_gpu in H100_ANCHORS.items():
        for gpus in (1, 4, 8):
            linear = per_gpu * gpus
            projection.append([label, per_gpu, gpus, f"{linear:,}", f"{MSMARCO_PASSAGES / linear / 60:.0f}"])
    print("\nprojection (not measured on GPUs): MS MARCO passage (8.8M), one actor per H100, REFERENCE.md's per-GPU "
          "rates, linear in the GPUs (each actor encodes its own batches; the fixed cost above is paid once)")
    print(table(["per-GPU way (REFERENCE)", "passages/s/GPU", "GPUs", "passages/s", "minutes for 8.8M"], projection))
    results["projection"] = [dict(zip(["way", "per_gpu", "gpus", "passages_per_s", "minutes"], r)) for r in projection]
    results["n"] = args.n
    print(f"\nwrote {save('ray_ingest', results)}")


if __name__ == "__main__":
    main()
