"""splade-tiny document vectors against two independent references, on real Cranfield text.

(a) the naive formula written here: transformers' full logits, ``log1p(relu(logits)) * mask``,
    max over tokens, float32;
(b) sentence-transformers' ``SparseEncoder.encode_document`` on the same model directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from splade_qdrant.documents import iter_documents
from splade_qdrant.pair import EncoderPair

from .helpers import DOC_MAX_LENGTH, QUERY_MAX_LENGTH, document_text

N_DOCS = 64
TOL = 1e-5


@pytest.fixture(scope="module")
def texts(cranfield_corpus: list[dict[str, Any]]) -> list[str]:
    return [document_text(d.get("title"), d["text"]) for d in cranfield_corpus[:N_DOCS]]


@pytest.fixture(scope="module")
def ours(tiny_pair: EncoderPair, texts: list[str]) -> np.ndarray:
    vocab = tiny_pair.document.mlm.vocab_size
    return np.stack([v.to_dense(vocab) for v in tiny_pair.document.encode(texts)])


def naive_weights(model_dir: Path, texts: list[str], max_length: int, batch: int = 8) -> np.ndarray:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    lm = AutoModelForMaskedLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    rows = []
    with torch.no_grad():
        for start in range(0, len(texts), batch):
            enc = tok(texts[start : start + batch], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            logits = lm(**enc).logits.float()
            weights = torch.log1p(torch.relu(logits)) * enc["attention_mask"].unsqueeze(-1).float()
            rows.append(weights.amax(dim=1).numpy())
    return np.concatenate(rows).astype(np.float32)


def test_document_text_rule_matches_library(cranfield_dir: Path, texts: list[str]) -> None:
    docs = iter_documents(cranfield_dir / "corpus.jsonl")
    assert [next(docs).text for _ in range(N_DOCS)] == texts


def test_some_documents_are_truncated(tiny_pair: EncoderPair, texts: list[str]) -> None:
    """The comparison below exercises truncation at 256 tokens (not just short texts)."""
    lengths = [len(ids) for ids in tiny_pair.document.mlm.tokenizer(texts)["input_ids"]]
    assert max(lengths) > DOC_MAX_LENGTH


@pytest.mark.slow  # splade-tiny and a plain transformers / sentence-transformers reference over 64 Cranfield documents (test_encoder_unit compares the tiny random model in the fast tier)
def test_matches_naive_reference(tiny_model_dir: Path, ours: np.ndarray, texts: list[str]) -> None:
    ref = naive_weights(tiny_model_dir, texts, DOC_MAX_LENGTH)
    assert ref.shape == ours.shape
    assert np.abs(ours - ref).max() <= TOL
    # average non-zero terms is in the range REFERENCE.md reports (216 for Cranfield documents)
    assert 100 < np.count_nonzero(ours, axis=1).mean() < 400


@pytest.mark.slow  # splade-tiny and a plain transformers / sentence-transformers reference over 64 Cranfield documents (test_encoder_unit compares the tiny random model in the fast tier)
def test_query_side_matches_naive_reference(tiny_model_dir: Path, tiny_pair: EncoderPair,
                                            cranfield_queries: list[dict[str, Any]]) -> None:
    queries = [q["text"] for q in cranfield_queries[:32]]
    vocab = tiny_pair.query.mlm.vocab_size
    got = np.stack([v.to_dense(vocab) for v in tiny_pair.query.encode(queries)])
    ref = naive_weights(tiny_model_dir, queries, QUERY_MAX_LENGTH)
    assert np.abs(got - ref).max() <= TOL


@pytest.mark.slow  # splade-tiny and a plain transformers / sentence-transformers reference over 64 Cranfield documents (test_encoder_unit compares the tiny random model in the fast tier)
def test_matches_sentence_transformers(tiny_model_dir: Path, ours: np.ndarray, texts: list[str]) -> None:
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SparseEncoder

    st_model = SparseEncoder(str(tiny_model_dir), device="cpu")
    st_model.max_seq_length = DOC_MAX_LENGTH
    assert st_model.max_seq_length == DOC_MAX_LENGTH
    emb = st_model.encode_document(texts, batch_size=16, convert_to_tensor=True, convert_to_sparse_tensor=True)
    ref = emb.to_dense().float().cpu().numpy()
    assert ref.shape == ours.shape
    assert np.abs(ours - ref).max() <= TOL
