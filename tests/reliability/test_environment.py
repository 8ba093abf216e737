"""Environment faults: unreachable server, unusable store path, missing collection,
fingerprint mismatch, the IDF modifier, and running out of GPU memory."""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np
import pytest
import torch

from splade_qdrant.cli import main as cli_main
from splade_qdrant.collection import SpladeQdrant
from splade_qdrant.encoder import MaskedLM, SpladeEncoder
from splade_qdrant.errors import (
    CollectionNotFoundError,
    ConfigError,
    FingerprintMismatchError,
    StoreUnavailableError,
)
from splade_qdrant.ingest import ingest
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store import open_store
from splade_qdrant.store.base import CollectionSpec, PointRecord, SparseQuery
from splade_qdrant.store.edge import EdgeStore
from splade_qdrant.store.remote import DEFAULT_BACKOFF_S, DEFAULT_RETRIES, RemoteStore

from .rel_helpers import assert_one_line_error, cli, model_args, write_jsonl

# qdrant-client's background version probe warns; the library silences that warning globally,
# pytest re-enables warnings per test
pytestmark = pytest.mark.filterwarnings("ignore:Failed to obtain server version:UserWarning")
DEAD_URL = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused
DOCS = [{"_id": "a", "text": "lift of swept wings"}, {"_id": "b", "text": "shock waves in nozzles"}]


def _one_line(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    return err[0]


# ---------------------------------------------------------------- unreachable server


@pytest.mark.timeout(120)  # hang guard: refused connections and 0.15 s of backoff must not turn into a wait
def test_unreachable_server_bounded_retries_then_clear_error():
    store = RemoteStore(url=DEAD_URL, retries=3, backoff_s=0.05)
    with pytest.raises(StoreUnavailableError) as info:
        store.list_collections()
    message = str(info.value)
    assert DEAD_URL in message and "unreachable after 3 tries" in message and "--url" in message


@pytest.mark.slow  # waits out the default backoff between tries (~3.5 s of sleeping by design)
@pytest.mark.timeout(120)  # hang guard: the default tries end with an error (no unbounded retrying)
def test_unreachable_server_default_backoff_is_bounded():
    total_wait = sum(DEFAULT_BACKOFF_S * 2**k for k in range(DEFAULT_RETRIES - 1))
    store = open_store(url=DEAD_URL)
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailableError, match=f"unreachable after {DEFAULT_RETRIES} tries"):
        store.collection_exists("c")
    assert time.monotonic() - t0 >= total_wait  # the backoff between tries really waited (a lower bound: load cannot break it)


def test_retry_settings_are_validated():
    with pytest.raises(ConfigError):
        RemoteStore(url=DEAD_URL, retries=0)


@pytest.mark.slow  # a real CLI subprocess
def test_cli_unreachable_server_one_line():
    proc = cli("info", "--url", DEAD_URL, "-c", "c")
    assert_one_line_error(proc, DEAD_URL, f"unreachable after {DEFAULT_RETRIES} tries")


# ---------------------------------------------------------------- store path not usable


def test_store_under_a_regular_file(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep me")
    store = EdgeStore(blocker / "sub")
    assert store.list_collections() == []
    with pytest.raises(StoreUnavailableError, match="part of the path is a file"):
        store.create_collection("c", CollectionSpec())
    assert blocker.read_text() == "keep me"


def test_store_path_is_a_file(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("keep me")
    with pytest.raises(StoreUnavailableError, match="exists and is not a directory"):
        EdgeStore(blocker)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_store_directory(tmp_path):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        with pytest.raises(StoreUnavailableError, match="not writable"):
            EdgeStore(root).create_collection("c", CollectionSpec())
    finally:
        root.chmod(0o700)


def test_cli_store_under_a_file_one_line(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    corpus = write_jsonl(tmp_path / "c.jsonl", DOCS)
    rc = cli_main(["ingest", str(corpus), "--store", str(blocker / "sub"), "-c", "c", *model_args()])
    assert rc == 2
    assert "part of the path is a file" in _one_line(capsys)


# ---------------------------------------------------------------- missing collection


def test_missing_collection(store, pair):
    with pytest.raises(CollectionNotFoundError, match="collection 'nope' does not exist"):
        Searcher(store, "nope", query_encoder=pair.query)
    with pytest.raises(CollectionNotFoundError):
        store.count("nope")
    with pytest.raises(CollectionNotFoundError):
        store.delete_collection("nope")


@pytest.mark.parametrize("command", [["search", "wing"], ["info"]])
def test_cli_missing_collection_one_line(tmp_path, capsys, command):
    rc = cli_main([*command, "--store", str(tmp_path / "s"), "-c", "nope"])
    assert rc == 2
    assert "collection 'nope' does not exist" in _one_line(capsys)


# ---------------------------------------------------------------- fingerprint mismatch


def test_fingerprint_mismatch_refuses_to_mix_encodings(store, pair):
    ingest(store, "c", DOCS, pair=pair, show_progress=False)
    other = EncoderPair(SpladeEncoder(pair.document.mlm, max_length=64), pair.query)
    with pytest.raises(FingerprintMismatchError) as info:
        ingest(store, "c", [{"_id": "z", "text": "new"}], pair=other, show_progress=False)
    assert "max_length=32" in str(info.value) and "max_length=64" in str(info.value)
    windows = EncoderPair(SpladeEncoder(pair.document.mlm, max_length=32, long_docs="window"), pair.query)
    with pytest.raises(FingerprintMismatchError, match="long_docs='truncate'"):
        ingest(store, "c", [{"_id": "z", "text": "new"}], pair=windows, show_progress=False)
    assert store.count("c") == len(DOCS)  # nothing was written


def test_cli_fingerprint_mismatch_one_line(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", DOCS)
    base = ["ingest", str(corpus), "--store", str(tmp_path / "s"), "-c", "c"]
    assert cli_main([*base, *model_args(32)]) == 0
    capsys.readouterr()
    assert cli_main([*base, *model_args(64)]) == 2
    line = _one_line(capsys)
    assert "was built with document encoder max_length=32, not max_length=64" in line


# ---------------------------------------------------------------- IDF modifier


def test_idf_is_off_by_default_and_recorded_when_asked(tmp_path, pair, capsys):
    with EdgeStore(tmp_path / "s") as store:
        ingest(store, "plain", DOCS, pair=pair, show_progress=False)
        ingest(store, "idf", DOCS, pair=pair, allow_idf=True, show_progress=False)
        assert store.spec("plain").idf is False
        assert store.spec("idf").idf is True
        assert SpladeQdrant("plain", store=store).info()["idf"] is False
    corpus = write_jsonl(tmp_path / "c.jsonl", DOCS)
    assert cli_main(["ingest", str(corpus), "--store", str(tmp_path / "s"), "-c", "cli-idf", *model_args(), "--allow-idf"]) == 0
    capsys.readouterr()
    assert cli_main(["info", "--store", str(tmp_path / "s"), "-c", "cli-idf", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["idf"] is True


def test_idf_modifier_changes_engine_scores(store):
    """Without the modifier the engine scores the exact dot product; with it, it does not."""
    docs = [SparseVector.from_dict({1: 1.0, 2: 0.5}), SparseVector.from_dict({1: 0.8}), SparseVector.from_dict({1: 0.3, 3: 1.0})]
    query = SparseVector.from_dict({1: 1.0, 2: 1.0})
    scores = {}
    for name, idf in (("plain", False), ("idf", True)):
        store.create_collection(name, CollectionSpec(idf=idf))
        store.upsert(name, [PointRecord(f"00000000-0000-5000-8000-00000000000{i}", v, {"i": i}) for i, v in enumerate(docs)])
        hits = store.query(name, SparseQuery(query, "splade"), limit=3)
        scores[name] = {h.payload["i"]: h.score for h in hits}
    for i, v in enumerate(docs):
        assert scores["plain"][i] == pytest.approx(query.dot(v), rel=1e-6)
    assert any(abs(scores["idf"][i] - query.dot(v)) > 1e-3 for i, v in enumerate(docs))


# ---------------------------------------------------------------- out of GPU memory


def _tiny_parts():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    words = ["wing", "flow", "lift", "drag", "shock", "wave", "mach", "plate"]
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", unk_token="[UNK]")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    return BertForMaskedLM(cfg), tok, words


class OutOfMemoryAbove(MaskedLM):
    """A real masked LM whose forward raises torch's OOM error for batches above ``limit`` rows."""

    def __init__(self, *args, limit: int, error: type[BaseException] = torch.OutOfMemoryError,
                 message: str = "CUDA out of memory. Tried to allocate 20.00 GiB", **kw):
        super().__init__(*args, **kw)
        self.limit, self.error, self.message, self.batches = limit, error, message, []

    def max_logits(self, input_ids, attention_mask):
        self.batches.append(int(input_ids.shape[0]))
        if input_ids.shape[0] > self.limit:
            raise self.error(self.message)
        return super().max_logits(input_ids, attention_mask)


@pytest.fixture(scope="module")
def tiny():
    model, tok, words = _tiny_parts()
    rng = np.random.default_rng(1)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 12)))) for _ in range(37)]
    return model, tok, texts


def test_oom_halves_the_batch_warns_once_and_gives_the_same_vectors(tiny, caplog):
    model, tok, texts = tiny
    flaky = SpladeEncoder(OutOfMemoryAbove(model, tok, name="tiny", device="cpu", limit=4), batch_size=16, max_length=16)
    plain = SpladeEncoder(MaskedLM(model, tok, name="tiny", device="cpu"), batch_size=4, max_length=16)
    with caplog.at_level(logging.INFO, logger="splade_qdrant.encoder"):
        got = flaky.encode(texts)
        again = flaky.encode(texts[:9])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["GPU out of memory at batch size 16; continuing with 8"]
    assert flaky.batch_size == 4
    assert flaky.mlm.batches[:3] == [16, 8, 4] and max(flaky.mlm.batches[3:]) <= 4
    assert got == plain.encode(texts)  # same batches as a batch size of 4: bit-identical
    assert again == plain.encode(texts[:9])


def test_oom_on_a_short_tail_batch_halves_that_batch(tiny, caplog):
    model, tok, texts = tiny
    flaky = SpladeEncoder(OutOfMemoryAbove(model, tok, name="tiny", device="cpu", limit=4), batch_size=64, max_length=16)
    with caplog.at_level(logging.WARNING, logger="splade_qdrant.encoder"):
        flaky.encode(texts[:6])
    assert flaky.batch_size == 3  # 6 rows failed: 3, not 32
    assert [r.getMessage() for r in caplog.records] == ["GPU out of memory at batch size 6; continuing with 3"]


def test_oom_with_one_sequence_is_a_clear_error(tiny):
    model, tok, texts = tiny
    flaky = SpladeEncoder(OutOfMemoryAbove(model, tok, name="tiny", device="cpu", limit=0), batch_size=8, max_length=16)
    with pytest.raises(ConfigError, match="out of memory on cpu even for one sequence"):
        flaky.encode(texts)


def test_other_runtime_errors_are_not_retried(tiny):
    model, tok, texts = tiny
    mlm = OutOfMemoryAbove(model, tok, name="tiny", device="cpu", limit=0, error=RuntimeError, message="shape mismatch")
    broken = SpladeEncoder(mlm, batch_size=8, max_length=16)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        broken.encode(texts)
    assert broken.batch_size == 8 and broken.mlm.batches == [8]
