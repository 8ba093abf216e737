"""CPU document encoding: splade_qdrant vs sentence-transformers vs ONNX Runtime vs the naive formula.

The project runs twice: with the bound this CPU gets by default (int8 where the CPU has int8
dot-product units: AVX-512 VNNI, AMX) and with the float32 low-rank ("pca") bound other CPUs get.

Same process, same texts (Cranfield and Vaswani documents, truncation 256, batch 32),
splade-tiny; all sides run interleaved and the best round of each counts. ONNX Runtime runs
the same model exported with ``torch.onnx.export`` in two configurations (``_onnx.py``):
fastembed's post-processing in NumPy over the exported logits, and the SPLADE pooling
exported inside the graph. Every side's vectors are compared with the reference math
(max |Δ| in float32, on the naive subset).

A second table: a DistilBERT-shaped masked LM (6 layers x 768, vocabulary 30,522, random
weights, splade-tiny's tokenizer) on ``--distil-n`` Vaswani documents; its logits are not
sparse, so the project runs it without pruning (pruning is measured on splade-tiny only).

    python benchmarks/encode_cpu.py [--n 160] [--rounds 2] [--distil-n 64]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from splade_qdrant._projection import Projection
from splade_qdrant.encoder import MaskedLM, SpladeEncoder

from _common import MODEL, doc_texts, save, table, timed
from _onnx import OrtSplade


def naive(model: Any, tok: Any, texts: list[str], max_length: int = 256, batch: int = 32) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for i in range(0, len(texts), batch):
            enc = tok(texts[i : i + batch], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            logits = model(**enc).logits
            w = (torch.log1p(torch.relu(logits)) * enc["attention_mask"][..., None]).amax(dim=1)
            out.append(w.numpy())
    return np.concatenate(out)


def _dense(x: Any, vocab: int) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, torch.Tensor):
        return x.to_dense().numpy() if x.is_sparse else x.numpy()
    return np.stack([v.to_dense(vocab) for v in x])


def compare(sides: dict[str, Callable[[list[str]], Any]], texts: list[str], ref: np.ndarray, rounds: int) -> dict[str, dict[str, float]]:
    """Docs/s (best of ``rounds`` interleaved) and max |Δ| vs ``ref`` (the first rows) of each side."""
    for fn in sides.values():  # warm-up
        fn(texts[:32])
    best = {name: float("inf") for name in sides}
    last: dict[str, Any] = {}
    for _ in range(rounds):
        for name, fn in sides.items():
            t, last[name] = timed(lambda fn=fn: fn(texts))
            best[name] = min(best[name], t)
    out = {}
    for name in sides:
        got = _dense(last[name], ref.shape[1])[: len(ref)]
        out[name] = {"per_s": len(texts) / best[name], "max_abs_err_vs_reference": float(np.abs(got - ref).max())}
    return out


def _distilbert(tok: Any) -> tuple[Any, str]:
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    torch.manual_seed(0)
    cfg = DistilBertConfig(vocab_size=len(tok), pad_token_id=tok.pad_token_id)  # 6 x 768, like efficient-SPLADE's document side
    lm = DistilBertForMaskedLM(cfg).eval()
    path = tempfile.mkdtemp(prefix="sq-distil-")
    lm.save_pretrained(path)
    tok.save_pretrained(path)
    return lm, path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=160, help="documents per dataset")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (best of each side)")
    ap.add_argument("--naive-n", type=int, default=64, help="documents for the naive row and the exactness check")
    ap.add_argument("--distil-n", type=int, default=64, help="Vaswani documents for the DistilBERT-shaped row (0: skip)")
    args = ap.parse_args()
    from sentence_transformers import SparseEncoder
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(MODEL))
    hf = AutoModelForMaskedLM.from_pretrained(str(MODEL)).eval()
    ours = SpladeEncoder.from_pretrained(str(MODEL), max_length=256, batch_size=32, long_docs="truncate")
    # the same encoder with the float32 low-rank bound: what CPUs without int8 dot-product units run
    ours_pca = SpladeEncoder.from_pretrained(str(MODEL), max_length=256, batch_size=32, long_docs="truncate")
    head = ours_pca.mlm._parts[2]  # type: ignore[index]
    ours_pca.mlm._projection = Projection(head.weight, head.bias, bound="pca")
    st = SparseEncoder(str(MODEL), device="cpu")
    st.max_seq_length = 256
    data = {d: doc_texts(d, args.n) for d in ("cranfield", "vaswani")}
    # references first: exporting a model to ONNX leaves transformers' tracing state behind
    refs = {d: timed(lambda t=t: naive(hf, tok, t[: args.naive_n])) for d, t in data.items()}
    ort_fe, ort_pooled = OrtSplade(hf, tok, "fastembed"), OrtSplade(hf, tok, "pooled")
    sides: dict[str, Callable[[list[str]], Any]] = {
        "splade_qdrant": ours.encode,
        f"splade_qdrant, {ours_pca.mlm._projection.bound} bound": ours_pca.encode,
        "sentence-transformers": lambda t: st.encode_document(t, batch_size=32, convert_to_tensor=True),
        "onnxruntime fastembed-style": ort_fe.encode,
        "onnxruntime pooled-in-graph": ort_pooled.encode,
    }
    rows, results = [], {}
    for dataset in ("cranfield", "vaswani"):
        texts = data[dataset]
        n_tok = sum(len(x) for x in tok(texts, truncation=True, max_length=256)["input_ids"]) / len(texts)
        sub = texts[: args.naive_n]
        t_naive, ref = refs[dataset]
        r = compare(sides, texts, ref, args.rounds)
        r["naive"] = {"per_s": len(sub) / t_naive, "max_abs_err_vs_reference": 0.0}
        results[dataset] = {"documents": len(texts), "avg_tokens": round(n_tok, 1), "sides": r}
        for name, v in r.items():
            rows.append([dataset, name, f"{v['per_s']:.1f}", f"{r['splade_qdrant']['per_s'] / v['per_s']:.2f}x",
                         f"{v['max_abs_err_vs_reference']:.1e}"])
    print(f"splade-tiny, truncation 256, batch 32, {args.n} documents per dataset, avg tokens "
          + ", ".join(f"{d} {results[d]['avg_tokens']}" for d in results))
    print(table(["dataset", "encoder", "docs/s", "splade_qdrant is", "max |Δ| vs reference"], rows))

    distil: dict[str, Any] = {}
    if args.distil_n:
        lm, path = _distilbert(tok)
        mlm = MaskedLM(lm, tok, name=path)
        assert mlm._projection is not None
        mlm._projection.prune = False  # random logits are not sparse: pruning would not pay
        d_ours = SpladeEncoder(mlm, max_length=256, batch_size=32, long_docs="truncate")
        d_st = SparseEncoder(path, device="cpu")
        d_st.max_seq_length = 256
        texts = doc_texts("vaswani", args.distil_n)
        t_naive, ref = timed(lambda: naive(lm, tok, texts))
        d_ort = OrtSplade(lm, tok, "pooled")
        d = compare({"splade_qdrant": d_ours.encode,
                     "sentence-transformers": lambda t: d_st.encode_document(t, batch_size=32, convert_to_tensor=True),
                     "onnxruntime pooled-in-graph": d_ort.encode}, texts, ref, 1)
        d["plain transformers (naive)"] = {"per_s": len(texts) / t_naive, "max_abs_err_vs_reference": 0.0}
        distil = {"documents": len(texts), "dataset": "vaswani", "sides": d}
        print(f"\nDistilBERT-shaped masked LM (6 x 768, random weights, no pruning), {len(texts)} Vaswani documents")
        print(table(["encoder", "docs/s", "splade_qdrant is", "max |Δ| vs reference"],
                    [[k, f"{v['per_s']:.2f}", f"{d['splade_qdrant']['per_s'] / v['per_s']:.2f}x", f"{v['max_abs_err_vs_reference']:.1e}"]
                     for k, v in d.items()]))
    print("saved", save("encode_cpu", {"rounds": args.rounds, "results": results, "distilbert": distil}))


if __name__ == "__main__":
    main()
