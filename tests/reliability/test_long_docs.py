"""Very long documents: 1 MB is tokenised once, truncated when asked and stored whole in the
payload; window mode max-pools overlapping windows exactly as a plain reference does; chunk
mode stores each window as its own point and search groups the windows by document."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from splade_qdrant.encoder import SpladeEncoder
from splade_qdrant.ingest import ingest, point_id
from splade_qdrant.pair import EncoderPair
from splade_qdrant.search import Searcher

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


@pytest.mark.timeout(600)  # hang guard only (a quadratic tokeniser would never finish); speed: benchmarks/
def test_tokenising_a_megabyte_keeps_one_window(pair, megabyte):
    seqs, owners, _ = pair.document._sequences([megabyte])
    assert owners == [0] and len(seqs[0]) == pair.document.max_length


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


def _reference_windows(mlm, text: str, window: int, overlap: int, *, pooled: bool = True):
    """Plain transformers: each window alone as [CLS] piece [SEP], log(1 + relu); max over all
    windows (``pooled``) or the list of per-window vectors."""
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
        if not pooled:
            out = [*(out or []), w]
            continue
        out = w if out is None else np.maximum(out, w)
    return out


@pytest.mark.slow  # splade-tiny windows against a plain reference (test_encoder_unit.test_long_docs_window covers it on the tiny model)
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
    truncate = SpladeEncoder(mlm, max_length=128, long_docs="truncate")
    seqs, _, _ = window._sequences([text])
    assert len(seqs) > 20
    w = window.encode([text])[0].to_dense(mlm.vocab_size)
    t = truncate.encode([text])[0].to_dense(mlm.vocab_size)
    assert np.all(w >= t - 1e-5)  # the first window is the truncated text; max-pooling only adds
    assert (w > 0).sum() > (t > 0).sum()


CHUNK_LENGTH, CHUNK_OVERLAP = 64, 16


@pytest.fixture(scope="module")
def chunk_pair(pair):
    doc = SpladeEncoder(pair.document.mlm, max_length=CHUNK_LENGTH, long_docs="chunk", window_overlap=CHUNK_OVERLAP)
    return EncoderPair(doc, pair.query)


def _chunk_corpus(cran_docs):
    """Three long documents (3, 4, 5 Cranfield abstracts) and two short ones."""
    long = [{"_id": f"long{n}", "text": " ".join(d["text"] for d in cran_docs[10 * n : 10 * n + n]), "n": n} for n in (3, 4, 5)]
    short = [{"_id": "short1", "text": "wing flutter at supersonic speeds"}, {"_id": "short2", "text": "boundary layer"}]
    return long + short


@pytest.mark.slow  # splade-tiny on every window of long Cranfield documents against a per-window reference (~5 s idle)
def test_chunk_mode_stores_each_window_exactly(store, chunk_pair, cran_docs):
    docs = _chunk_corpus(cran_docs)
    report = ingest(store, "c", docs, pair=chunk_pair, store_text=True, show_progress=False)
    mlm = chunk_pair.document.mlm
    total = 0
    for d in docs:
        ref = _reference_windows(mlm, d["text"], CHUNK_LENGTH - 2, CHUNK_OVERLAP, pooled=False)
        ids = [point_id(d["_id"], k) for k in range(len(ref))]
        got = {p.id: p for p in store.retrieve("c", ids, with_vectors=True)}
        assert len(got) == len(ref), d["_id"]
        ends = []
        for k, (pid, want) in enumerate(zip(ids, ref)):
            p = got[pid]
            np.testing.assert_allclose(p.sparse.to_dense(mlm.vocab_size), want, rtol=1e-4, atol=1e-5)
            chunk = p.payload["chunk"]
            assert (chunk["index"], chunk["count"]) == (k, len(ref))
            assert p.payload["doc_id"] == d["_id"] and p.payload["text"] == d["text"][chunk["start"] : chunk["end"]]
            ends.append((chunk["start"], chunk["end"]))
        assert ends[0][0] == 0 and ends[-1][1] == len(d["text"])  # the windows cover the document
        assert all(b[0] < a[1] for a, b in zip(ends, ends[1:]))  # consecutive windows overlap
        total += len(ref)
    assert len(_reference_windows(mlm, docs[2]["text"], CHUNK_LENGTH - 2, CHUNK_OVERLAP, pooled=False)) > 5
    assert report.points_in_collection == report.points_written == total
    assert report.documents == 5 and report.long_documents == 3


def test_chunk_search_returns_each_document_once_with_its_best_window(store, chunk_pair, cran_docs):
    docs = _chunk_corpus(cran_docs)
    ingest(store, "c", docs, pair=chunk_pair, show_progress=False)
    searcher = Searcher(store, "c", query_encoder=chunk_pair.query)
    query = cran_docs[43]["text"][:200]
    qvec = chunk_pair.query.encode([query])[0]
    best: dict[str, float] = {}
    for d in docs:
        n = 1 if len(d["text"]) < 100 else 30
        for p in store.retrieve("c", [point_id(d["_id"], k) for k in range(n)], with_vectors=True):
            best[d["_id"]] = max(best.get(d["_id"], 0.0), qvec.dot(p.sparse))
    want = sorted(((s, i) for i, s in best.items() if s > 0), reverse=True)
    hits = searcher.search(query, limit=10)
    assert [h.id for h in hits] == [i for _, i in want]
    np.testing.assert_allclose([h.score for h in hits], [s for s, _ in want], rtol=1e-5)
    page = searcher.search(query, limit=2, offset=1)
    assert [h.id for h in page] == [i for _, i in want[1:3]]
    assert all("chunk" in h.payload for h in hits)


def test_chunk_reingest_skips_and_replaces_without_stale_windows(store, chunk_pair, cran_docs):
    docs = _chunk_corpus(cran_docs)
    first = ingest(store, "c", docs, pair=chunk_pair, show_progress=False)
    again = ingest(store, "c", docs, pair=chunk_pair, show_progress=False)
    assert again.skipped_unchanged == 5 and again.points_written == 0
    assert store.count("c") == first.points_in_collection
    # A long document that becomes short: its extra windows are deleted, not left behind.
    changed = [dict(d, text="laminar flow") if d["_id"] == "long5" else d for d in docs]
    old_count = store.retrieve("c", [point_id("long5", 0)])[0].payload["chunk"]["count"]
    third = ingest(store, "c", changed, pair=chunk_pair, show_progress=False)
    assert third.skipped_unchanged == 4 and third.points_written == 1
    assert store.count("c") == first.points_in_collection - old_count + 1
    assert store.retrieve("c", [point_id("long5", k) for k in range(1, old_count)]) == []


def test_chunk_document_cut_by_a_crash_is_encoded_again(store, chunk_pair, cran_docs):
    docs = _chunk_corpus(cran_docs)
    first = ingest(store, "c", docs, pair=chunk_pair, show_progress=False)
    count = store.retrieve("c", [point_id("long4", 0)])[0].payload["chunk"]["count"]
    store.delete("c", [point_id("long4", count - 1)])  # as if killed before its last window landed
    rerun = ingest(store, "c", docs, pair=chunk_pair, show_progress=False)
    assert rerun.skipped_unchanged == 4 and rerun.points_written == count
    assert store.count("c") == first.points_in_collection


@pytest.mark.slow  # real CLI subprocesses
def test_chunk_mode_from_the_cli(tmp_path, cran_docs):
    from .rel_helpers import MODEL, cli, write_jsonl

    corpus = write_jsonl(tmp_path / "c.jsonl", _chunk_corpus(cran_docs))
    base = ["--store", str(tmp_path / "s"), "-c", "c"]
    proc = cli("ingest", str(corpus), *base, "--model", str(MODEL), "--doc-max-length", str(CHUNK_LENGTH),
               "--long-docs", "chunk", "--no-progress", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["long_docs"] == "chunk" and report["points_in_collection"] > 5
    proc = cli("search", cran_docs[41]["text"][:150], *base, "--json", "--limit", "5")
    hits = json.loads(proc.stdout)
    assert len(hits) == len({h["id"] for h in hits}) >= 3  # one hit per document (the short ones may not match)
    assert hits[0]["id"] == "long4"  # cran_docs[41] is part of long4 (documents 40-43)
