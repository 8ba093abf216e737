"""Rerunning an ingest leaves the collection exactly as one run left it; changes are applied."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from splade_qdrant.cli import main as cli_main
from splade_qdrant.documents import content_hash
from splade_qdrant.ingest import ingest, point_id
from splade_qdrant.sparse import SparseVector

from .rel_helpers import model_args, snapshot, write_jsonl

N_DOCS = 60
COLL = "cran"


@pytest.fixture
def docs(cran_docs):
    out = copy.deepcopy(cran_docs[:N_DOCS])
    rng = np.random.default_rng(0)
    for d in out:  # floats Qdrant Edge hands back a few ulps off must still count as unchanged
        d["weight"] = float(rng.random() * 10.0 ** rng.integers(-30, 30))
        d["meta"] = {"pages": [1, 2], "ok": True, "note": None}
    return out


def _ids(docs):
    return [d["_id"] for d in docs]


def _ingest(store, docs, pair, **kw):
    kw.setdefault("chunk_size", 25)  # several chunks, the last one partial
    kw.setdefault("upsert_batch", 8)
    return ingest(store, COLL, docs, pair=pair, show_progress=False, **kw)


def test_rerun_skips_everything_and_changes_nothing(store, docs, pair):
    first = _ingest(store, docs, pair, store_text=True)
    assert (first.points_written, first.points_in_collection) == (N_DOCS, N_DOCS)
    before = snapshot(store, COLL, _ids(docs))

    again = _ingest(store, docs, pair, store_text=True)

    assert again.skipped_unchanged == N_DOCS
    assert (again.points_written, again.payload_updated, again.encode_seconds) == (0, 0, 0.0)
    assert snapshot(store, COLL, _ids(docs)) == before


def test_forced_reencode_rewrites_identical_points(store, docs, pair):
    _ingest(store, docs, pair)
    before = snapshot(store, COLL, _ids(docs))

    again = _ingest(store, docs, pair, skip_unchanged=False)

    assert again.points_written == N_DOCS and again.skipped_unchanged == 0
    assert snapshot(store, COLL, _ids(docs)) == before  # same count, bit-identical vectors, same payload


def test_changed_text_is_reencoded_and_replaced(store, docs, pair):
    _ingest(store, docs, pair)
    before = snapshot(store, COLL, _ids(docs))
    changed = {docs[i]["_id"] for i in (0, 7, 31, 59)}
    for d in docs:
        if d["_id"] in changed:
            d["text"] = "supersonic flutter of swept wings at high angles of attack"
    docs.append({"_id": "new-1", "title": "", "text": "boundary layer transition on a flat plate"})

    report = _ingest(store, docs, pair)

    assert report.points_written == len(changed) + 1
    assert report.skipped_unchanged == N_DOCS - len(changed)
    after = snapshot(store, COLL, _ids(docs))
    assert after["count"] == N_DOCS + 1
    for d in docs:
        doc_id = d["_id"]
        payload, indices, values, _ = after[doc_id]
        expected_text = f"{d['title'].strip()} {d['text'].strip()}" if d["title"].strip() else d["text"].strip()
        assert payload["content_hash"] == content_hash(expected_text)
        if doc_id in changed or doc_id == "new-1":
            ref = pair.document.encode([expected_text])[0]
            dim = pair.document.mlm.vocab_size
            got = SparseVector.from_arrays(indices, values).to_dense(dim)
            np.testing.assert_allclose(got, ref.to_dense(dim), rtol=1e-4, atol=1e-5)  # other batch, other padding
        else:
            assert after[doc_id] == before[doc_id]


def test_payload_only_change_updates_payload_without_reencoding(store, docs, pair):
    _ingest(store, docs, pair)
    before = snapshot(store, COLL, _ids(docs))
    docs[3]["lang"] = "en"
    docs[4]["title"] = docs[4]["title"] + "  "  # encoded text unchanged (stripped), payload title changed
    assert docs[5]["title"].strip()
    del docs[5]["title"]

    report = _ingest(store, docs, pair)

    # doc 5 lost its title, which changes the encoded text too: it is re-encoded
    assert report.payload_updated == 2
    assert report.points_written == 3
    after = snapshot(store, COLL, _ids(docs))
    for i in (3, 4):
        doc_id = docs[i]["_id"]
        assert after[doc_id][1:] == before[doc_id][1:]  # the very same vectors
    assert after[docs[3]["_id"]][0]["lang"] == "en"
    assert after[docs[4]["_id"]][0]["title"] == docs[4]["title"]
    assert "title" not in after[docs[5]["_id"]][0]
    # and a third run is a no-op again
    assert _ingest(store, docs, pair).skipped_unchanged == N_DOCS


def test_store_text_toggle_is_applied(store, docs, pair):
    _ingest(store, docs[:10], pair)
    report = _ingest(store, docs[:10], pair, store_text=True)
    assert report.payload_updated == 10 and report.encode_seconds == 0.0
    stored = store.retrieve(COLL, [point_id(d["_id"]) for d in docs[:10]])
    assert all(p.payload["text"] for p in stored)


def test_insert_only_never_overwrites(store, docs, pair):
    _ingest(store, docs, pair)
    before = snapshot(store, COLL, _ids(docs))
    for d in docs[:10]:
        d["text"] = "completely different text"
        d["extra"] = 1
    docs.append({"_id": "new-2", "text": "hypersonic heat transfer"})

    report = _ingest(store, docs, pair, insert_only=True)

    assert report.skipped_existing == N_DOCS
    assert report.points_written == 1
    after = snapshot(store, COLL, _ids(docs))
    assert after["count"] == N_DOCS + 1
    for doc_id in _ids(docs[:N_DOCS]):
        assert after[doc_id] == before[doc_id]


def test_cli_rerun_and_insert_only(tmp_path, docs, capsys):
    """The same through ``splade-qdrant ingest --json``: rerun skips, --insert-only keeps old points."""
    corpus = write_jsonl(tmp_path / "corpus.jsonl", docs[:40])
    base = ["ingest", str(corpus), "--store", str(tmp_path / "s"), "-c", COLL, *model_args(), "--json"]

    def run(*extra):
        assert cli_main([*base, *extra]) == 0
        return json.loads(capsys.readouterr().out)

    assert run()["points_written"] == 40
    docs[0]["text"] = "changed"
    write_jsonl(corpus, docs[:41])
    report = run("--insert-only")
    assert (report["skipped_existing"], report["points_written"], report["points_in_collection"]) == (40, 1, 41)
    report = run()  # now only the document whose text changed is re-encoded
    assert (report["skipped_unchanged"], report["points_written"], report["points_in_collection"]) == (40, 1, 41)
