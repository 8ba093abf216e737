"""CPU document encoding: splade_qdrant vs sentence-transformers vs the naive formula.

Same process, same texts (Cranfield and Vaswani documents, truncation 256, batch 32),
splade-tiny; the two sides run interleaved and the best round of each counts. Checks that
our vectors equal the reference math (max |Δ| in float32).

    python benchmarks/encode_cpu.py [--n 512] [--rounds 2]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import MODEL, doc_texts, save, table, timed

from splade_qdrant.encoder import SpladeEncoder


def naive(model, tok, texts, max_length=256, batch=32):
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            enc = tok(texts[i : i + batch], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            logits = model(**enc).logits
            w = (torch.log1p(torch.relu(logits)) * enc["attention_mask"][..., None]).amax(dim=1)
            out.append(w.numpy())
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=512, help="documents per dataset")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (best of each side)")
    ap.add_argument("--naive-n", type=int, default=96, help="documents for the naive row and the exactness check")
    args = ap.parse_args()
    from sentence_transformers import SparseEncoder
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    ours = SpladeEncoder.from_pretrained(str(MODEL), max_length=256, batch_size=32, long_docs="truncate")
    st = SparseEncoder(str(MODEL), device="cpu")
    st.max_seq_length = 256
    hf = AutoModelForMaskedLM.from_pretrained(str(MODEL)).eval()
    tok = AutoTokenizer.from_pretrained(str(MODEL))
    rows, results = [], {}
    for dataset in ("cranfield", "vaswani"):
        texts = doc_texts(dataset, args.n)
        n_tok = sum(len(x) for x in tok(texts, truncation=True, max_length=256)["input_ids"]) / len(texts)
        ours.encode(texts[:32]); st.encode_document(texts[:32], batch_size=32)  # warm-up
        t_ours = t_st = float("inf")
        for _ in range(args.rounds):  # interleaved, best of each: machine noise hits both sides alike
            t, vecs = timed(lambda: ours.encode(texts))
            t_ours = min(t_ours, t)
            t, _ = timed(lambda: st.encode_document(texts, batch_size=32, convert_to_tensor=True))
            t_st = min(t_st, t)
        sub = texts[: args.naive_n]
        t_naive, ref = timed(lambda: naive(hf, tok, sub))
        dense = np.stack([v.to_dense(ref.shape[1]) for v in vecs[: len(sub)]])
        max_err = float(np.abs(dense - ref).max())
        r = {
            "documents": len(texts),
            "avg_tokens": round(n_tok, 1),
            "ours_per_s": len(texts) / t_ours,
            "sentence_transformers_per_s": len(texts) / t_st,
            "naive_per_s": len(sub) / t_naive,
            "speedup_vs_st": t_st / t_ours,
            "max_abs_err_vs_reference": max_err,
        }
        results[dataset] = r
        rows.append([dataset, len(texts), f"{n_tok:.0f}", f"{r['naive_per_s']:.1f}", f"{r['sentence_transformers_per_s']:.1f}",
                     f"{r['ours_per_s']:.1f}", f"{r['speedup_vs_st']:.2f}x", f"{max_err:.1e}"])
    print(table(["dataset", "docs", "avg tokens", "naive/s", "sentence-transformers/s", "splade_qdrant/s", "vs ST", "max |Δ|"], rows))
    print("saved", save("encode_cpu", {"threads": torch.get_num_threads(), "rounds": args.rounds, "results": results}))


if __name__ == "__main__":
    main()
