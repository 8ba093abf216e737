"""Very long documents: 1 MB is tokenised once, truncated by default and stored whole in the
payload; window mode max-pools overlapping windows exactly as a plain reference does."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from splade_qdrant.encoder import SpladeEncoder
from splade_qdrant.ingest import ingest, point_id

MB = 1_000_000


def _long_text(cran_docs, n_bytes: int) -> str:
    corpus = " ".join(d["text"] for d in cran_docs)
    text = (corpus + " ") * (n_bytes // len(corpus.encode()) + 1)
    return text[: text.rfind(" ", 0, n_bytes)]


@pytest.fixture(scope="module")
def megabyte(cran_docs):
    text = _long_text(cran_docs, MB)
    assert MB - 100 < len(text.encode()) <= MB
    return text


def test_tokenising_a_megabyte_is_linear_and_keeps_one_window(pair, megabyte):
    t0 = time.perf_counter()
    seqs, owners = pair.document._sequences([megabyte])
    elapsed = time.perf_counter() - t0
    assert owners == [0] and len(seqs[0]) == pair.document.max_length
    assert elapsed < 60  # a few seconds even on a busy 2-core machine


def test_megabyte_document_is_truncated_and_stored_whole(store, pair, megabyte):
    docs = [{"_id": "big", "text": megabyte, "kind": "long"}, {"_id": "small", "text": "wing flutter"}]
    report = ingest(store, "c", docs, pair=pair, store_text=True, show_progress=False)
    assert report.points_in_collection == 2
    big = store.retrieve("c", [point_id("big")], with_vectors=True)[0]
    assert big.payload["text"] == megabyte and big.payload["kind"] == "long"
    # truncation keeps the first max_length - 2 tokens: the same vector as a short prefix
    prefix = megabyte[: megabyte.rfind(" ", 0, 2000)]
    ref = pair.document.encode([prefix])[0]
    dim = pair.document.mlm.vocab_size
    np.testing.assert_allclose(big.sparse.to_dense(dim), ref.to_dense(dim), rtol=1e-4, atol=1e-5)
    assert ingest(store, "c", docs, pair=pair, store_text=True, show_progress=False).skipped_unchanged == 2


def _reference_windows(mlm, text: str, window: int, overlap: int) -> np.ndarray:
    """Plain transformers: each window alone as [CLS] piece [SEP], log(1 + relu), max over all."""
    tok = mlm.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    step = window - overlap
    out = None
    for start in range(0, max(len(ids) - window, 0) + step, step):
        piece = ids[start : start + window]
        if not piece:
            break
        seq = torch.tensor([[tok.cls_token_id, *piece, tok.sep_token_id]])
        with torch.inference_mode():
            logits = mlm.model(input_ids=seq, attention_mask=torch.ones_like(seq)).logits[0]
        w = torch.log1p(torch.relu(logits)).amax(dim=0).numpy()
        out = w if out is None else np.maximum(out, w)
    return out


def test_window_mode_matches_a_plain_reference(pair, cran_docs):
    mlm = pair.document.mlm
    text = " ".join(d["text"] for d in cran_docs[:2])  # a few hundred tokens: several windows
    enc = SpladeEncoder(mlm, max_length=64, long_docs="window", window_overlap=16)
    got = enc.encode([text])[0].to_dense(mlm.vocab_size)
    ref = _reference_windows(mlm, text, window=62, overlap=16)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


def test_window_mode_on_a_long_document_covers_the_truncated_one(store, pair, cran_docs):
    mlm = pair.document.mlm
    text = _long_text(cran_docs, 15_000)
    window = SpladeEncoder(mlm, max_length=128, long_docs="window")
    truncate = SpladeEncoder(mlm, max_length=128)
    seqs, _ = window._sequences([text])
    assert len(seqs) > 20
    w = window.encode([text])[0].to_dense(mlm.vocab_size)
    t = truncate.encode([text])[0].to_dense(mlm.vocab_size)
    assert np.all(w >= t - 1e-5)  # the first window is the truncated text; max-pooling only adds
    assert (w > 0).sum() > (t > 0).sum()
