"""End-to-end ingestion: encode-only vs splade_qdrant ingest (Qdrant Edge) vs the obvious way.

The obvious way: sentence-transformers SparseEncoder.encode_document + qdrant-client local
mode (``path=``) upserts, batch by batch. Same texts, same process, splade-tiny, truncation 256.

    python benchmarks/ingest_e2e.py [--n 3000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import uuid

from _common import MODEL, SHARED, save, table, timed

from splade_qdrant.ingest import ingest
from splade_qdrant.pair import EncoderPair
from splade_qdrant.store import open_store


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="Vaswani documents")
    args = ap.parse_args()
    corpus = SHARED / "datasets" / "vaswani" / "corpus.jsonl"
    docs = [json.loads(line) for line in open(corpus, encoding="utf-8")][: args.n]
    texts = [(f"{d['title'].strip()} {d['text'].strip()}" if d.get("title", "").strip() else d["text"].strip()) for d in docs]
    tmp = tempfile.mkdtemp(prefix="sq-ingest-")
    subset = f"{tmp}/corpus.jsonl"
    with open(subset, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in docs)

    pair = EncoderPair.from_pretrained(str(MODEL), doc_max_length=256, query_max_length=64, long_docs="truncate")
    pair.document.encode(texts[:64])
    t_encode, _ = timed(lambda: pair.document.encode(texts))
    store = open_store(f"{tmp}/edge")
    t_ingest, report = timed(lambda: ingest(store, "vaswani", subset, pair=pair, show_progress=False))
    store.close()

    from qdrant_client import QdrantClient, models
    from sentence_transformers import SparseEncoder

    st = SparseEncoder(str(MODEL), device="cpu")
    st.max_seq_length = 256
    client = QdrantClient(path=f"{tmp}/local")
    client.create_collection("v", sparse_vectors_config={"splade": models.SparseVectorParams()})

    def obvious() -> None:
        for i in range(0, len(texts), 32):
            emb = st.encode_document(texts[i : i + 32], batch_size=32, convert_to_tensor=True).coalesce()
            idx, val = emb.indices().numpy(), emb.values().numpy()
            points = []
            for r in range(len(texts[i : i + 32])):
                m = idx[0] == r
                sv = models.SparseVector(indices=idx[1][m].tolist(), values=val[m].tolist())
                points.append(models.PointStruct(id=str(uuid.uuid4()), vector={"splade": sv}, payload={"doc_id": docs[i + r]["_id"]}))
            client.upsert("v", points)

    t_obvious, _ = timed(obvious)
    client.close()
    shutil.rmtree(tmp, ignore_errors=True)
    n = len(texts)
    res = {
        "documents": n,
        "encode_only_per_s": n / t_encode,
        "splade_qdrant_ingest_per_s": n / t_ingest,
        "ingest_vs_encode": t_encode / t_ingest,
        "obvious_way_per_s": n / t_obvious,
        "speedup_vs_obvious": t_obvious / t_ingest,
        "points": report.points_in_collection,
    }
    print(table(["way", "documents/s"], [
        ["encode only (splade_qdrant encoder)", f"{res['encode_only_per_s']:.1f}"],
        ["splade_qdrant ingest → Qdrant Edge", f"{res['splade_qdrant_ingest_per_s']:.1f}"],
        ["sentence-transformers + qdrant-client local mode", f"{res['obvious_way_per_s']:.1f}"],
    ]))
    print(f"ingest reaches {100 * res['ingest_vs_encode']:.0f}% of encode-only throughput; "
          f"{res['speedup_vs_obvious']:.2f}x the obvious way")
    print("saved", save("ingest_e2e", res))


if __name__ == "__main__":
    main()
