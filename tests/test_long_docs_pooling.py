"""Long-document pooling: the pure functions of splade_qdrant.pooling, and the encoder's
``long_docs="first-plus"`` mode against them (tiny random BERT from conftest, no model files)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from splade_qdrant import pooling
from splade_qdrant.config import (
    DEFAULT_LONG_DOCS,
    LONG_DOCS_MODES,
    LONG_DOCS_TAIL_WEIGHT,
)
from splade_qdrant.encoder import MaskedLM, SpladeEncoder
from splade_qdrant.ingest.report import IngestReport
from splade_qdrant.sparse import activate

TOL = 1e-5
WORDS = ["wing", "flow", "lift", "drag", "air", "speed", "high", "low", "heat", "transfer", "boundary", "layer", "shock", "wave", "pressure", "mach", "number", "plate", "surface", "angle", "attack", "body", "jet", "stream"]

weights = arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 12)),
                 elements=st.floats(0.0, 8.0, width=32, allow_subnormal=False))


@settings(max_examples=60, deadline=None)
@given(w=weights, alpha=st.floats(0.0, 1.0))
def test_first_plus_between_truncation_and_max_pool(w: np.ndarray, alpha: float) -> None:
    pooled = pooling.first_plus(w, alpha)
    assert np.all(pooled >= w[0]) and np.all(pooled <= pooling.max_pool(w))
    np.testing.assert_array_equal(pooling.first_plus(w, 0.0), w[0])
    np.testing.assert_array_equal(pooling.first_plus(w, 1.0), pooling.max_pool(w))
    mean = pooling.mean_pool(w)
    assert np.all(mean <= pooling.max_pool(w) + TOL)
    assert pooling.norm_matched(w).sum() == pytest.approx(float(w[0].sum()) if pooling.max_pool(w).sum() > 0 else 0.0, rel=1e-4, abs=1e-4)


@settings(max_examples=60, deadline=None)
@given(first=arrays(np.float32, 12, elements=st.floats(-10.0, 10.0, width=32)),
       later=arrays(np.float32, 12, elements=st.floats(-10.0, 10.0, width=32)),
       alpha=st.floats(0.0, 1.0))
def test_first_plus_logits_activate_to_first_plus_weights(first: np.ndarray, later: np.ndarray, alpha: float) -> None:
    got = activate(pooling.first_plus_logits(first, later, alpha)[None])[0]
    expected = pooling.first_plus(activate(np.stack([first, later])), alpha)
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=1e-5)
    positive = first > 0
    assert np.all(pooling.first_plus_logits(first, later, alpha)[positive] >= first[positive])


def test_pooling_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="alpha"):
        pooling.first_plus(np.ones((2, 3), np.float32), 1.5)
    with pytest.raises(ValueError, match="windows"):
        pooling.max_pool(np.ones(3, np.float32))


@pytest.mark.parametrize("n_words", [3, 6, 7, 11, 17, 23])
def test_first_plus_mode_pools_the_chunk_windows(tiny_mlm: MaskedLM, tiny_lm: Any, n_words: int) -> None:
    """first-plus = pooling.first_plus over the exact per-window vectors that chunk mode encodes."""
    vocab = tiny_lm.config.vocab_size
    text = " ".join(WORDS[:n_words])
    enc = SpladeEncoder(tiny_mlm, max_length=8, long_docs="first-plus")
    chunks = SpladeEncoder(tiny_mlm, max_length=8, long_docs="chunk").encode_chunks([text])[0]
    w = np.stack([c.vector.to_dense(vocab) for c in chunks])
    got = enc.encode([text])[0].to_dense(vocab)
    np.testing.assert_allclose(got, pooling.first_plus(w, LONG_DOCS_TAIL_WEIGHT), atol=TOL, rtol=1e-5)
    truncated = SpladeEncoder(tiny_mlm, max_length=8, long_docs="truncate").encode([text])[0].to_dense(vocab)
    if len(chunks) == 1:
        np.testing.assert_array_equal(got, truncated)
    else:  # the first window's weights stay; only terms the later windows add, at a fraction
        assert np.all(got >= truncated - TOL)
        assert np.all(got <= pooling.max_pool(w) + TOL)
        added = (got > truncated + TOL)
        assert np.all(got[added] <= LONG_DOCS_TAIL_WEIGHT * w[1:].max(axis=0)[added] + TOL)


def test_first_plus_mixed_batch_keeps_order(tiny_mlm: MaskedLM, tiny_lm: Any) -> None:
    vocab = tiny_lm.config.vocab_size
    enc = SpladeEncoder(tiny_mlm, max_length=8, long_docs="first-plus", batch_size=3)
    texts = [" ".join(WORDS[:17]), "jet", " ".join(WORDS[3:14]), "", " ".join(WORDS[::-1])]
    together = np.stack([v.to_dense(vocab) for v in enc.encode(texts)])
    alone = np.stack([enc.encode([t])[0].to_dense(vocab) for t in texts])
    np.testing.assert_allclose(together, alone, atol=TOL, rtol=0)
    assert enc.long_texts == 3 * 2  # three long texts, counted in both passes


def test_settings_record_the_tail_weight_only_for_first_plus(tiny_mlm: MaskedLM) -> None:
    assert SpladeEncoder(tiny_mlm, max_length=8, long_docs="first-plus").settings()["tail_weight"] == LONG_DOCS_TAIL_WEIGHT
    for mode in ("window", "chunk", "truncate"):
        assert "tail_weight" not in SpladeEncoder(tiny_mlm, max_length=8, long_docs=mode).settings()  # type: ignore[arg-type]


def test_default_mode_and_report_say_what_was_done() -> None:
    assert DEFAULT_LONG_DOCS in LONG_DOCS_MODES
    for mode in LONG_DOCS_MODES:
        report = IngestReport("c", documents=3, long_documents=2, long_docs=mode)
        line = next(x for x in report.summary().splitlines() if "longer than" in x)
        assert line.startswith("2 documents longer than the model's window"), line
