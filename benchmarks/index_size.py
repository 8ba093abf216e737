"""Index size and quality by sparse storage datatype (float32 / float16 / uint8) on Cranfield.

Encodes Cranfield once (splade-tiny, 256 / 64 tokens), writes the same points into three
embedded collections that differ only in Qdrant's sparse ``datatype``, and reports bytes per
document on disk and nDCG@10 / R@100 through the library's search path.

    python benchmarks/index_size.py
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from _common import MODEL, SHARED, save, table

from splade_qdrant import fingerprint
from splade_qdrant.documents import content_hash, read_jsonl
from splade_qdrant.evaluate import RunConfig, evaluate
from splade_qdrant.ingest import point_id
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher
from splade_qdrant.store.base import CollectionSpec, PointRecord
from splade_qdrant.store.edge import EdgeStore


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    data = SHARED / "datasets" / "cranfield"
    pair = EncoderPair.from_pretrained(str(MODEL), doc_max_length=256, query_max_length=64, long_docs="truncate")
    docs = list(read_jsonl(data / "corpus.jsonl"))
    vectors = pair.document.encode([d.text for d in docs])
    points = [PointRecord(point_id(d.id), v, {"doc_id": d.id, "content_hash": content_hash(d.text)}) for d, v in zip(docs, vectors)]
    root = Path(tempfile.mkdtemp(prefix="sq-size-"))
    # Qdrant builds the typed sparse index only for segments above the indexing threshold
    # (Cranfield's 2.4 MB of weights is below the default): index everything here.
    store = EdgeStore(root, indexing_threshold_kb=1)
    rows, results = [], {}
    for dtype in ("float32", "float16", "uint8"):
        meta = fingerprint.build(pair.settings(), sparse_vector="splade")
        store.create_collection(dtype, CollectionSpec(sparse_datatype=dtype, metadata=meta))  # type: ignore[arg-type]
        for i in range(0, len(points), 512):
            store.upsert(dtype, points[i : i + 512])
        store.optimize(dtype)
        store.close()  # flush before measuring
        size = dir_bytes(root / dtype) / len(points)
        index = sum(dir_bytes(d) for d in (root / dtype).rglob("vector_index*") if d.is_dir()) / len(points)
        m = evaluate(Searcher(store, dtype, query_encoder=pair.query), data, configs=[RunConfig("sparse")]).results[0].metrics
        results[dtype] = {"bytes_per_doc": size, "sparse_index_bytes_per_doc": index, **m}
        rows.append([dtype, f"{size:.0f}", f"{index:.0f}", f"{m['nDCG@10']:.4f}", f"{m['R@100']:.4f}"])
    store.close()
    shutil.rmtree(root, ignore_errors=True)
    print(table(["sparse datatype", "bytes/doc on disk", "inverted index B/doc", "nDCG@10", "R@100"], rows))
    print("saved", save("index_size", {"dataset": "cranfield", "documents": len(points), "results": results}))


if __name__ == "__main__":
    main()
