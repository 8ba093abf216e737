"""SpladeEncoder on a tiny randomly initialised BERT masked LM built in code (no model files).

Every vector is compared with a plain reference written here: the full MLM logits from
``model(**enc).logits``, ``log1p(relu(logits)) * attention_mask``, max over tokens, float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from splade_qdrant.encoder import MaskedLM, SpladeEncoder
from splade_qdrant.errors import ConfigError, SpladeQdrantError
from splade_qdrant.sparse import SparseVector

TEXTS = [
    "wing",
    "the lift and drag of a wing in a high speed air stream",
    "",
    "heat transfer in the turbulent boundary layer of a flat plate at high mach number",
    "shock wave",
    "Pressure data, tested; models TESTED!",
    "an unknown zyzzyva word and flowing flows",
    "the effect of angle of attack on lift",
    "boundary layer theory",
    "jet",
    "low speed tunnel test results for a body with a jet",
]
TOL = 1e-5


def reference_weights(lm: Any, tokenizer: Any, texts: list[str], max_length: int) -> np.ndarray:
    """The naive SPLADE formula: log1p(relu(logits)) * mask, max over tokens; [texts, vocab] float32."""
    enc = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        logits = lm(**enc).logits.float()
    weights = torch.log1p(torch.relu(logits)) * enc["attention_mask"].unsqueeze(-1).float()
    return weights.amax(dim=1).numpy().astype(np.float32)


def reference_ids(lm: Any, ids: list[int]) -> np.ndarray:
    """Reference weights of one already tokenised sequence (special tokens included)."""
    with torch.no_grad():
        logits = lm(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits
    return torch.log1p(torch.relu(logits.float()))[0].amax(dim=0).numpy()


def dense(vectors: list[SparseVector], vocab: int) -> np.ndarray:
    return np.stack([v.to_dense(vocab) for v in vectors]) if vectors else np.zeros((0, vocab), np.float32)


def word_ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.fixture
def encoder(tiny_mlm: MaskedLM) -> SpladeEncoder:
    return SpladeEncoder(tiny_mlm, max_length=32, batch_size=4)


def test_tokenizer_fixture_is_wordpiece(tiny_tokenizer: Any) -> None:
    ids = tiny_tokenizer("flowing wings")["input_ids"]
    tokens = tiny_tokenizer.convert_ids_to_tokens(ids)
    assert tokens == ["[CLS]", "flow", "##ing", "wing", "##s", "[SEP]"]


def test_matches_reference(encoder: SpladeEncoder, tiny_lm: Any, tiny_tokenizer: Any) -> None:
    vocab = tiny_lm.config.vocab_size
    got = dense(encoder.encode(TEXTS), vocab)
    ref = reference_weights(tiny_lm, tiny_tokenizer, TEXTS, max_length=32)
    assert got.shape == ref.shape == (len(TEXTS), vocab)
    assert np.abs(got - ref).max() <= TOL
    assert np.count_nonzero(ref) > len(TEXTS)  # the comparison is not vacuous


def test_output_types(encoder: SpladeEncoder) -> None:
    vecs = encoder.encode(TEXTS[:3])
    assert len(vecs) == 3
    for v in vecs:
        assert isinstance(v, SparseVector)
        assert v.indices.dtype == np.int32 and v.values.dtype == np.float32
        assert np.all(v.values > 0)
    assert encoder.encode([]) == []


def test_empty_text_is_cls_sep_only(encoder: SpladeEncoder, tiny_lm: Any, tiny_tokenizer: Any) -> None:
    (vec,) = encoder.encode([""])
    expected = reference_ids(tiny_lm, [tiny_tokenizer.cls_token_id, tiny_tokenizer.sep_token_id])
    np.testing.assert_allclose(vec.to_dense(tiny_lm.config.vocab_size), expected, atol=TOL, rtol=0)


def test_order_preserved_under_length_sorting(encoder: SpladeEncoder, tiny_lm: Any) -> None:
    """Inputs are sorted by length internally; outputs come back in input order."""
    vocab = tiny_lm.config.vocab_size
    singles = np.stack([encoder.encode([t])[0].to_dense(vocab) for t in TEXTS])
    batched = dense(encoder.encode(TEXTS), vocab)
    np.testing.assert_allclose(batched, singles, atol=TOL, rtol=0)
    reversed_ = dense(encoder.encode(TEXTS[::-1]), vocab)
    np.testing.assert_allclose(reversed_[::-1], batched, atol=TOL, rtol=0)


def test_batch_size_does_not_change_vectors(tiny_mlm: MaskedLM, tiny_lm: Any) -> None:
    vocab = tiny_lm.config.vocab_size
    one = dense(SpladeEncoder(tiny_mlm, max_length=32, batch_size=1).encode(TEXTS), vocab)
    seven = dense(SpladeEncoder(tiny_mlm, max_length=32, batch_size=7).encode(TEXTS), vocab)
    np.testing.assert_allclose(one, seven, atol=TOL, rtol=0)


def test_max_logits_then_activation(encoder: SpladeEncoder, tiny_lm: Any, tiny_tokenizer: Any) -> None:
    """encode_max_logits is the masked max of the raw logits, before activation."""
    raw = encoder.encode_max_logits(TEXTS[:4])
    enc = tiny_tokenizer(TEXTS[:4], padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        logits = tiny_lm(**enc).logits.float()
    masked = logits.masked_fill(~enc["attention_mask"].bool().unsqueeze(-1), float("-inf"))
    np.testing.assert_allclose(raw, masked.amax(dim=1).numpy(), atol=TOL, rtol=0)
    assert raw.dtype == np.float32


def test_truncation_at_max_length(tiny_mlm: MaskedLM, tiny_lm: Any, tiny_tokenizer: Any) -> None:
    vocab = tiny_lm.config.vocab_size
    max_length = 8  # [CLS] + 6 word pieces + [SEP]
    long_text = "wing flow lift drag air speed high low heat transfer"  # 10 single-piece words
    short_text = "wing flow lift drag air speed"  # its first 6 words
    enc = SpladeEncoder(tiny_mlm, max_length=max_length, long_docs="truncate")
    got_long, got_short = dense(enc.encode([long_text, short_text]), vocab)
    np.testing.assert_allclose(got_long, got_short, atol=TOL, rtol=0)
    ids = [tiny_tokenizer.cls_token_id, *word_ids(tiny_tokenizer, long_text)[: max_length - 2], tiny_tokenizer.sep_token_id]
    assert len(ids) == max_length
    np.testing.assert_allclose(got_long, reference_ids(tiny_lm, ids), atol=TOL, rtol=0)
    ref = reference_weights(tiny_lm, tiny_tokenizer, [long_text], max_length=max_length)[0]
    np.testing.assert_allclose(got_long, ref, atol=TOL, rtol=0)
    # words past the budget change nothing
    more = enc.encode([long_text + " shock wave pressure mach"])[0].to_dense(vocab)
    np.testing.assert_allclose(more, got_long, atol=TOL, rtol=0)


def _windows_by_hand(ids: list[int], window: int, overlap: int) -> list[list[int]]:
    """Windows of ``window`` pieces, each starting ``window - overlap`` after the previous,
    until one reaches the end of the text."""
    if len(ids) <= window:
        return [ids]
    out, start = [], 0
    while True:
        out.append(ids[start : start + window])
        if start + window >= len(ids):
            return out
        start += window - overlap


@pytest.mark.parametrize(
    ("n_words", "overlap"),
    [(6, None), (7, 0), (10, 1), (11, 1), (17, None), (23, 5)],
)
def test_long_docs_window(tiny_mlm: MaskedLM, tiny_lm: Any, tiny_tokenizer: Any, n_words: int, overlap: int | None) -> None:
    vocab = tiny_lm.config.vocab_size
    max_length = 8
    window = max_length - 2
    words = ("wing flow lift drag air speed high low heat transfer boundary layer shock wave pressure mach "
             "number plate surface angle attack body jet stream").split()
    text = " ".join(words[:n_words])
    enc = SpladeEncoder(tiny_mlm, max_length=max_length, long_docs="window", window_overlap=overlap)
    used_overlap = window // 4 if overlap is None else overlap
    assert enc.window_overlap == used_overlap
    ids = word_ids(tiny_tokenizer, text)
    assert len(ids) == n_words
    pieces = _windows_by_hand(ids, window, used_overlap)
    cls, sep = tiny_tokenizer.cls_token_id, tiny_tokenizer.sep_token_id
    expected = np.max([reference_ids(tiny_lm, [cls, *p, sep]) for p in pieces], axis=0)
    got = enc.encode([text])[0].to_dense(vocab)
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
    if n_words > window:
        truncated = SpladeEncoder(tiny_mlm, max_length=max_length, long_docs="truncate").encode([text])[0].to_dense(vocab)
        assert np.all(got >= truncated - TOL)  # windows only add evidence
    assert enc.settings()["long_docs"] == "window"
    assert enc.settings()["window_overlap"] == used_overlap


def test_long_docs_window_mixed_batch_keeps_order(tiny_mlm: MaskedLM, tiny_lm: Any) -> None:
    vocab = tiny_lm.config.vocab_size
    enc = SpladeEncoder(tiny_mlm, max_length=8, long_docs="window", batch_size=3)
    texts = [TEXTS[3], "jet", TEXTS[1], "", TEXTS[6]]
    together = dense(enc.encode(texts), vocab)
    alone = np.stack([enc.encode([t])[0].to_dense(vocab) for t in texts])
    np.testing.assert_allclose(together, alone, atol=TOL, rtol=0)


def test_pruning_top_k_and_threshold(tiny_mlm: MaskedLM, tiny_lm: Any, tiny_tokenizer: Any) -> None:
    vocab = tiny_lm.config.vocab_size
    full = reference_weights(tiny_lm, tiny_tokenizer, TEXTS, max_length=32)
    top3 = SpladeEncoder(tiny_mlm, max_length=32, top_k=3).encode(TEXTS)
    for vec, row in zip(top3, full):
        assert len(vec) == min(3, int(np.count_nonzero(row)))
        kept = vec.to_dense(vocab)
        np.testing.assert_allclose(kept[vec.indices], row[vec.indices], atol=TOL, rtol=0)
        dropped = np.setdiff1d(np.flatnonzero(row), vec.indices)
        if dropped.size:
            assert row[dropped].max() <= vec.values.min() + TOL
    threshold = float(np.median(full[full > 0]))
    pruned = SpladeEncoder(tiny_mlm, max_length=32, threshold=threshold).encode(TEXTS)
    for vec, row in zip(pruned, full):
        assert np.all(vec.values >= threshold)
        expected = np.flatnonzero(row >= threshold + TOL)
        assert set(expected.tolist()) <= set(vec.indices.tolist())


def test_single_string_raises_type_error(encoder: SpladeEncoder) -> None:
    with pytest.raises(TypeError, match="not one string"):
        encoder.encode("wing flow")
    with pytest.raises(TypeError):
        encoder.encode_max_logits("wing flow")


def test_settings_record_options(tiny_mlm: MaskedLM) -> None:
    enc = SpladeEncoder(tiny_mlm, max_length=20, top_k=5, threshold=0.25)
    assert enc.settings() == {
        "model": "tiny-random-bert",
        "max_length": 20,
        "top_k": 5,
        "threshold": 0.25,
        "long_docs": "first-plus",
        "window_overlap": 4,
        "tail_weight": 0.25,
    }
    assert enc.name == "tiny-random-bert"


def test_decode_returns_vocabulary_strings(encoder: SpladeEncoder, tiny_tokenizer: Any) -> None:
    ids = tiny_tokenizer.convert_tokens_to_ids(["wing", "##s"])
    assert encoder.decode(ids) == ["wing", "##s"]


@pytest.mark.parametrize(
    "options",
    [
        {"max_length": 2},
        {"max_length": 1},
        {"batch_size": 0},
        {"top_k": 0},
        {"threshold": -0.1},
        {"long_docs": "paragraph"},
        {"long_docs": "window", "max_length": 8, "window_overlap": 6},
        {"long_docs": "window", "max_length": 8, "window_overlap": -1},
    ],
)
def test_bad_options_raise_config_error(tiny_mlm: MaskedLM, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        SpladeEncoder(tiny_mlm, **options)
    assert isinstance(info.value, SpladeQdrantError) and isinstance(info.value, ValueError)


def test_half_on_cpu_raises_config_error(tiny_lm: Any, tiny_tokenizer: Any) -> None:
    with pytest.raises(ConfigError, match="GPU"):
        MaskedLM(tiny_lm, tiny_tokenizer, name="x", device="cpu", half=True)
    # the refusal happened before the shared model was touched
    assert next(tiny_lm.parameters()).dtype == torch.float32


def test_unknown_device_raises_config_error(tiny_lm: Any, tiny_tokenizer: Any) -> None:
    with pytest.raises(ConfigError, match="device"):
        MaskedLM(tiny_lm, tiny_tokenizer, name="x", device="no-such-device")


def test_generic_masked_lm_path_matches_reference(tiny_lm: Any, tiny_tokenizer: Any) -> None:
    """A masked LM the encoder has no fast path for goes through full logits + masked max."""

    class Wrapped(torch.nn.Module):  # hides .bert/.cls, so the generic path is taken
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner
            self.config = inner.config

        def forward(self, **kwargs: Any) -> Any:
            return self.inner(**kwargs)

    mlm = MaskedLM(Wrapped(tiny_lm), tiny_tokenizer, name="wrapped", device="cpu")
    got = dense(SpladeEncoder(mlm, max_length=32, batch_size=3).encode(TEXTS), tiny_lm.config.vocab_size)
    ref = reference_weights(tiny_lm, tiny_tokenizer, TEXTS, max_length=32)
    np.testing.assert_allclose(got, ref, atol=TOL, rtol=0)


def test_more_texts_than_one_pooling_call(tiny_mlm: MaskedLM, tiny_lm: Any) -> None:
    """Over 1,024 texts are pooled in several calls; order and values survive the seams."""
    vocab = tiny_lm.config.vocab_size
    enc = SpladeEncoder(tiny_mlm, max_length=32, batch_size=128)
    many = [TEXTS[i % len(TEXTS)] for i in range(1030)]
    vecs = enc.encode(many)
    assert len(vecs) == len(many)
    base = dense(enc.encode(TEXTS), vocab)
    for i in (0, 5, 1022, 1023, 1024, 1025, 1029):
        np.testing.assert_allclose(vecs[i].to_dense(vocab), base[i % len(TEXTS)], atol=TOL, rtol=0)


# --------------------------------------------------------------------------- lean CPU body


def _padded_batch(vocab: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, vocab, (5, 23), generator=g)
    mask = torch.ones_like(ids)
    for row, length in enumerate([23, 17, 3, 1, 11]):
        mask[row, length:] = 0
        ids[row, length:] = 0
    return ids, mask


@pytest.mark.parametrize("arch", ["bert", "distilbert"])
def test_lean_body_equals_transformers_forward(arch: str) -> None:
    from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

    from splade_qdrant._body import lean_body

    torch.manual_seed(7)
    if arch == "bert":
        body = BertModel(BertConfig(vocab_size=90, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                                    intermediate_size=48), add_pooling_layer=False).eval()
    else:
        body = DistilBertModel(DistilBertConfig(vocab_size=90, dim=32, hidden_dim=48, n_layers=3, n_heads=4)).eval()
    fast = lean_body(body)
    assert fast is not None
    for seed in range(3):
        ids, mask = _padded_batch(90, seed)
        with torch.inference_mode():
            want = body(input_ids=ids, attention_mask=mask).last_hidden_state
            got = fast(ids, mask)
        keep = mask.bool()
        assert got.shape == want.shape
        assert (got[keep] - want[keep]).abs().max().item() <= TOL
        # unpadded single sequence (the query path: no attention mask at all)
        one = ids[:1, :23]
        with torch.inference_mode():
            assert (fast(one, torch.ones_like(one)) - body(input_ids=one).last_hidden_state).abs().max().item() <= TOL


def test_lean_body_declines_what_it_does_not_know() -> None:
    from transformers import BertConfig, BertModel

    from splade_qdrant._body import lean_body

    cfg = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    assert lean_body(BertModel(cfg).train()) is None
    relative = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                          position_embedding_type="relative_key")
    assert lean_body(BertModel(relative).eval()) is None
    assert lean_body(torch.nn.Linear(2, 2).eval()) is None


def test_masked_lm_uses_lean_body_on_cpu_and_matches_reference(tiny_mlm: MaskedLM, tiny_lm: Any, tiny_tokenizer: Any) -> None:
    assert tiny_mlm._lean is not None
    enc = SpladeEncoder(tiny_mlm, max_length=32, batch_size=4)
    got = dense(enc.encode(TEXTS), tiny_lm.config.vocab_size)
    np.testing.assert_allclose(got, reference_weights(tiny_lm, tiny_tokenizer, TEXTS, 32), atol=TOL, rtol=0)


def test_cpu_batches_run_one_torch_thread_per_part_and_restore_the_setting(tiny_mlm: MaskedLM, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    seen: list[tuple[str, int, int]] = []
    inner = tiny_mlm._max_logits

    def spy(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        seen.append((threading.current_thread().name, torch.get_num_threads(), int(ids.shape[0])))
        return inner(ids, mask)

    monkeypatch.setattr(tiny_mlm, "_max_logits", spy)
    monkeypatch.setattr("splade_qdrant._masked_lm.usable_cpus", lambda: 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ids = torch.tensor([[2, 10, 11, 3], [2, 12, 3, 0]])
        mask = (ids != 0).long()
        small = tiny_mlm.max_logits(ids, mask)  # a few tokens: the calling thread alone
        assert seen == [(threading.current_thread().name, 1, 2)] and torch.get_num_threads() == 2
        big_ids = ids.repeat(200, 1)  # 400 sequences: two row groups, one on a worker
        big = tiny_mlm.max_logits(big_ids, (big_ids != 0).long())
        assert [(n, rows) for _, n, rows in seen[1:]] == [(1, 200), (1, 200)]
        assert any(name.startswith("splade-qdrant-cpu") for name, _, _ in seen[1:])
        assert torch.get_num_threads() == 2
        # positive entries are exact on every path; non-positive ones may hold a bound <= 0
        torch.testing.assert_close(big[:2].clamp(min=0), small.clamp(min=0), rtol=0, atol=1e-5)
        torch.testing.assert_close(big[200:202].clamp(min=0), small.clamp(min=0), rtol=0, atol=1e-5)
    finally:
        torch.set_num_threads(before)


def test_token_ids_match_the_tokenizer_wrapper(tiny_mlm: MaskedLM, tiny_tokenizer: Any) -> None:
    # The Rust backend is called directly; its ids and character spans must be the wrapper's.
    texts = [*TEXTS, "wing " * 200]
    ids, offsets = tiny_mlm.token_ids(texts, offsets=True)
    want = tiny_tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False, return_offsets_mapping=True)
    assert ids == [list(x) for x in want["input_ids"]]
    assert offsets is not None
    assert [[tuple(o) for o in x] for x in offsets] == [[tuple(o) for o in x] for x in want["offset_mapping"]]
    assert len(ids[-1]) == 200  # longer than any truncation setting: nothing cut


def test_token_ids_ignore_truncation_and_padding_in_the_tokenizer_file(tiny_lm: Any, tiny_tokenizer: Any) -> None:
    tiny_tokenizer.backend_tokenizer.enable_truncation(max_length=4)
    tiny_tokenizer.backend_tokenizer.enable_padding(length=16)
    try:
        mlm = MaskedLM(tiny_lm, tiny_tokenizer, name="t", device="cpu")
        ids, _ = mlm.token_ids(["the lift and drag of a wing in a high speed air stream"])
    finally:
        tiny_tokenizer.backend_tokenizer.no_truncation()
        tiny_tokenizer.backend_tokenizer.no_padding()
    assert len(ids[0]) == 13
