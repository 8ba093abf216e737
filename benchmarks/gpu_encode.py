"""GPU document encoding (run on the lent H100 through the device tool), side by side with the anchors.

Model: a DistilBERT masked LM of the efficient-splade-VI-BT-large-doc shape (6 layers, hidden
768, vocabulary 30,522), random weights, bf16. Texts: the same synthetic MS MARCO-like passages
as ../shared/tools/gpu_anchor.py (~58 tokens on average, long tail to 256). Rows:
splade_qdrant's encoder (sorted token-budget batches, masked max before activation, bf16),
sentence-transformers SparseEncoder bf16 batch 128 (the baseline, re-measured here), and a
bf16-vs-float32 exactness check on a sample. Prints a table and writes $OUT/gpu_encode.json
(or benchmarks/results/gpu_encode.json).

    python benchmarks/gpu_encode.py TOKENIZER_DIR [N]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from splade_qdrant.encoder import MaskedLM, SpladeEncoder  # noqa: E402


def main() -> None:
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForMaskedLM

    tok_dir = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 40000
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(tok_dir)
    vocab = [w for w in tok.get_vocab() if w.isalpha() and len(w) > 2]
    rng = np.random.default_rng(0)
    lens = np.clip(rng.normal(56, 25, n).astype(int), 8, 200)
    texts = [" ".join(rng.choice(vocab, k)) for k in lens]
    ntok = np.array([len(x) for x in tok(texts, truncation=True, max_length=256)["input_ids"]])
    torch.manual_seed(0)
    model = DistilBertForMaskedLM(DistilBertConfig(vocab_size=30522)).eval()
    path = "/tmp/sq_dbert_mlm"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    results: dict[str, float] = {"passages": n, "tokens_mean": float(ntok.mean())}

    enc = SpladeEncoder(MaskedLM(model, tok, name="dbert", device=dev, half=dev != "cpu"), max_length=256, batch_size=256, long_docs="truncate")
    enc.encode(texts[:2048])
    if dev == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    enc.encode(texts)
    if dev == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    results["splade_qdrant_per_s"] = n / dt
    params = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name and "vocab_projector" not in name)
    flop = 2 * ntok.sum() * (params + 768 * 30522)
    results["splade_qdrant_tflops"] = flop / dt / 1e12

    try:
        from sentence_transformers import SparseEncoder

        st = SparseEncoder(path, device=dev, model_kwargs={"torch_dtype": torch.bfloat16})
        st.encode_document(texts[:512], batch_size=128)
        t0 = time.perf_counter()
        st.encode_document(texts, batch_size=128)
        if dev == "cuda":
            torch.cuda.synchronize()
        results["sentence_transformers_per_s"] = n / (time.perf_counter() - t0)
        results["speedup_vs_st"] = results["splade_qdrant_per_s"] / results["sentence_transformers_per_s"]
    except Exception as exc:  # noqa: BLE001 — report and continue
        print("sentence-transformers failed:", repr(exc)[:300])

    sample = texts[:64]
    ref = SpladeEncoder(MaskedLM(DistilBertForMaskedLM.from_pretrained(path), tok, name="ref", device="cpu"), max_length=256, long_docs="truncate")
    a = np.stack([v.to_dense(30522) for v in ref.encode(sample)])
    b = np.stack([v.to_dense(30522) for v in enc.encode(sample)])
    results["max_rel_err_bf16_vs_fp32"] = float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-9))

    print(f"device={dev} {torch.cuda.get_device_name() if dev == 'cuda' else ''} N={n} tokens/passage={ntok.mean():.1f}")
    for k, v in results.items():
        print(f"{k:32s} {v:12.3f}")
    out = os.environ.get("OUT") or str(Path(__file__).resolve().parent / "results")
    Path(out).mkdir(parents=True, exist_ok=True)
    Path(out, "gpu_encode.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
