"""Bad input: a clear error naming file, line and document id — or, with skip_bad, a report
of the skipped lines while every good line is stored."""

from __future__ import annotations

import datetime
import json

import numpy as np
import pytest
import torch

from splade_qdrant.cli import main as cli_main
from splade_qdrant.dense import DenseEncoder
from splade_qdrant.documents import BadInput, iter_documents
from splade_qdrant.errors import InputError
from splade_qdrant.ingest import ingest, point_id

from .rel_helpers import assert_one_line_error, cli, model_args, write_jsonl

GOOD1 = {"_id": "d1", "title": "Wings", "text": "lift and drag of swept wings", "year": 1962}
GOOD3 = {"_id": "d3", "title": "", "text": "laminar boundary layer on a flat plate"}

# (case, line 2 of the file, what the message says, document id it names)
FILE_CASES = [
    ("malformed JSON", b'{"_id": "d2", "text": "unterminated', "malformed JSON", "d2"),
    ("missing id", b'{"text": "no id here"}', "missing or invalid document id", None),
    ("empty id", b'{"_id": "", "text": "x"}', "missing or invalid document id", None),
    ("missing text", b'{"_id": "d2", "title": "only a title"}', "'text' is missing", "d2"),
    ("null text", b'{"_id": "d2", "text": null}', "'text' is missing", "d2"),
    ("non-string text", b'{"_id": "d2", "text": ["a", "b"]}', "'text' must be a string, got list", "d2"),
    ("non-string title", b'{"_id": "d2", "title": 3, "text": "x"}', "'title' must be a string", "d2"),
    ("invalid UTF-8", b'{"_id": "d2", "text": "caf\xe9 au lait"}', "invalid UTF-8 at byte", "d2"),
    ("lone surrogate", b'{"_id": "d2", "text": "\\ud800"}', "unpaired surrogate", "d2"),
    ("NaN payload", b'{"_id": "d2", "text": "x", "score": NaN}', "'score' is nan", "d2"),
    ("infinite payload", b'{"_id": "d2", "text": "x", "score": 1e999}', "'score' is inf", "d2"),
    ("huge integer", b'{"_id": "d2", "text": "x", "n": 123456789012345678901234567890}', "64-bit range", "d2"),
    ("reserved field", b'{"_id": "d2", "text": "x", "content_hash": "abc"}', "reserved", "d2"),
    ("not an object", b'["d2", "x"]', "expected a JSON object", None),
    ("duplicate id", json.dumps({"_id": "d1", "text": "again"}).encode(), "duplicate document id", "d1"),
]


def _file(tmp_path, line2: bytes):
    return write_jsonl(tmp_path / "corpus.jsonl", [GOOD1, line2, GOOD3])


@pytest.mark.parametrize(("line", "reason", "doc_id"), [c[1:] for c in FILE_CASES], ids=[c[0] for c in FILE_CASES])
def test_bad_line_names_file_line_and_id(tmp_path, line, reason, doc_id):
    path = _file(tmp_path, line)
    with pytest.raises(InputError) as info:
        list(iter_documents(path))
    message = str(info.value)
    assert message.startswith(f"{path}:2")
    assert reason in message
    if doc_id is not None:
        assert f"(document '{doc_id}')" in message
    assert "\n" not in message

    bad: list[BadInput] = []
    kept = list(iter_documents(path, skip_bad=True, bad=bad))
    assert [d.id for d in kept] == ["d1", "d3"]
    assert [(b.source, b.line, b.doc_id) for b in bad] == [(str(path), 2, doc_id)]


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD1).encode() + b"\n")
    assert [d.id for d in iter_documents(path)] == ["d1"]


@pytest.mark.parametrize(
    "argv_case", ["malformed JSON", "missing id", "missing text", "invalid UTF-8", "duplicate id", "NaN payload"]
)
def test_cli_bad_line_exits_2_with_one_line(tmp_path, capsys, argv_case):
    line, reason, doc_id = next(c[1:] for c in FILE_CASES if c[0] == argv_case)
    path = _file(tmp_path, line)
    rc = cli_main(["ingest", str(path), "--store", str(tmp_path / "s"), "-c", "c", *model_args()])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("splade-qdrant ingest: error: ")
    assert f"{path}:2" in err[0] and reason in err[0]


BAD_ITEMS = [
    ({"id": "p1", "text": "x", "score": float("nan")}, "'score' is nan"),
    ({"id": "p1", "text": "x", "tags": {"a", "b"}}, "'tags' has type set"),
    ({"id": "p1", "text": "x", "obj": object()}, "'obj' has type object"),
    ({"id": "p1", "text": "x", "meta": {"deep": [1, float("inf")]}}, "'meta.deep[1]' is inf"),
    ({"id": "p1", "text": "x", "meta": {1: "a"}}, "non-string key"),
    ({"id": "p1", "text": "x", 5: "a"}, "field names must be strings"),
    ({"id": "p1", "text": "x", "v": np.float32(1.5)}, "'v' has type float32"),
    ({"id": "p1", "text": "x", "big": 2**64}, "64-bit range"),
    (("p1", "x", {"when": datetime.date(2020, 1, 1)}), "'when' has type date"),
    ({"id": "p1", "text": b"bytes"}, "'text' must be a string, got bytes"),
    ({"id": 1.5, "text": "x"}, "missing or invalid document id"),
    ({"id": True, "text": "x"}, "missing or invalid document id"),
    (["p1", "x"], "expected a dict"),
]


@pytest.mark.parametrize(("item", "reason"), BAD_ITEMS, ids=[r for _, r in BAD_ITEMS])
def test_bad_python_item_names_position_and_id(item, reason):
    items = [GOOD1, item, GOOD3]
    with pytest.raises(InputError) as info:
        list(iter_documents(items))
    message = str(info.value)
    assert message.startswith("<iterable>:2")
    assert reason in message
    if "document id" not in reason and "expected" not in reason:
        assert "(document 'p1')" in message


def test_skip_bad_loses_no_data_python_items(store, pair):
    good = [{"id": f"g{i}", "text": f"wing section number {i}", "n": i, "tags": ["a", str(i)]} for i in range(12)]
    items = []
    for i, g in enumerate(good):
        items.append(g)
        if i < len(BAD_ITEMS):
            items.append(BAD_ITEMS[i][0])
    report = ingest(store, "c", items, pair=pair, skip_bad=True, show_progress=False)
    assert report.points_in_collection == len(good)
    assert len(report.bad) == min(len(good), len(BAD_ITEMS))
    stored = {p.payload["doc_id"]: p.payload for p in store.retrieve("c", [point_id(g["id"]) for g in good])}
    for g in good:
        assert {k: stored[g["id"]][k] for k in ("n", "tags")} == {"n": g["n"], "tags": g["tags"]}


@pytest.mark.slow  # a real CLI subprocess
def test_skip_bad_loses_no_data_cli(tmp_path, cran_docs, capsys):
    """Every kind of bad line in one file among real documents, through the CLI (a real
    subprocess stops at the first bad line; --skip-bad stores every good one)."""
    rows: list = []
    good = cran_docs[:30]
    bad_lines = {}
    for i, doc in enumerate(good):
        rows.append(doc)
        if i < len(FILE_CASES):
            line = FILE_CASES[i][1].replace(b'"d1"', b'"1"')  # the duplicate repeats cranfield id 1
            rows.append(line)
            bad_lines[len(rows)] = FILE_CASES[i][0]
    rows.append({"_id": "empty-1", "text": ""})
    rows.append({"_id": "empty-2", "title": "  ", "text": " \t "})
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    base = ["ingest", str(path), "--store", str(tmp_path / "s"), "-c", "mixed", *model_args()]

    assert_one_line_error(cli(*base), f"{path}:{min(bad_lines)}", "malformed JSON")

    assert cli_main([*base, "--skip-bad", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["bad"]) == len(bad_lines)
    for line_no, entry in zip(sorted(bad_lines), report["bad"]):
        assert entry.startswith(f"{path}:{line_no}")
    assert report["empty_texts"] == 2
    expected = [d["_id"] for d in good] + ["empty-1", "empty-2"]
    assert report["points_in_collection"] == len(expected)

    from splade_qdrant.store.edge import EdgeStore

    with EdgeStore(tmp_path / "s") as store:
        stored = {p.payload["doc_id"]: p.payload for p in store.retrieve("mixed", [point_id(i) for i in expected])}
    assert sorted(stored) == sorted(expected)
    for doc in good:  # payload kept exactly (title and every other field)
        assert stored[doc["_id"]]["title"] == doc["title"]


def test_empty_text_is_encoded_from_special_tokens_alone(store, pair):
    """Documented rule: empty or whitespace-only text is stored, encoded from [CLS] [SEP]."""
    docs = [{"id": "e1", "text": ""}, {"id": "e2", "title": " ", "text": " \n\t "}, {"id": "g", "text": "wing"}]
    report = ingest(store, "c", docs, pair=pair, show_progress=False)
    assert report.empty_texts == 2 and report.points_in_collection == 3

    # plain reference with transformers: the model on [CLS] [SEP], log(1 + relu(logits)), max over tokens
    mlm = pair.document.mlm
    tok = mlm.tokenizer
    ids = torch.tensor([[tok.cls_token_id, tok.sep_token_id]])
    with torch.inference_mode():
        logits = mlm.model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0]
    ref = torch.log1p(torch.relu(logits)).amax(dim=0).numpy()
    assert (ref > 0).sum() > 0
    points = {p.payload["doc_id"]: p for p in store.retrieve("c", [point_id("e1"), point_id("e2")], with_vectors=True)}
    for doc_id in ("e1", "e2"):
        np.testing.assert_allclose(points[doc_id].sparse.to_dense(mlm.vocab_size), ref, rtol=1e-4, atol=1e-5)


DENSE_CASES = [
    ("NaN", b'{"_id": "v2", "text": "x", "dense_vector": [1.0, NaN, 0.0, 0.0]}', "NaN or infinity"),
    ("infinity", b'{"_id": "v2", "text": "x", "dense_vector": [Infinity, 0.0, 0.0, 0.0]}', "NaN or infinity"),
    ("too short", b'{"_id": "v2", "text": "x", "dense_vector": [1.0, 2.0, 3.0]}', "shape (3,), expected (4,)"),
    ("too long", b'{"_id": "v2", "text": "x", "dense_vector": [1, 2, 3, 4, 5]}', "shape (5,), expected (4,)"),
    ("nested", b'{"_id": "v2", "text": "x", "dense_vector": [[1, 2], [3, 4]]}', "shape (2, 2)"),
    ("not numbers", b'{"_id": "v2", "text": "x", "dense_vector": ["a", "b", "c", "d"]}', "list of numbers"),
    ("missing", b'{"_id": "v2", "text": "x"}', "no 'dense_vector' field"),
]
V1 = {"_id": "v1", "text": "swept wing", "dense_vector": [1.0, 0.0, 0.0, 0.0]}
V3 = {"_id": "v3", "text": "delta wing", "dense_vector": [0.0, 3.0, 4.0, 0.0]}


@pytest.mark.parametrize(("line", "reason"), [c[1:] for c in DENSE_CASES], ids=[c[0] for c in DENSE_CASES])
def test_bad_dense_vector_names_file_line_and_id(tmp_path, store, pair, line, reason):
    path = write_jsonl(tmp_path / "dense.jsonl", [line, V1])
    with pytest.raises(InputError) as info:
        ingest(store, "c", path, pair=pair, dense=DenseEncoder.precomputed(4), show_progress=False)
    message = str(info.value)
    assert message.startswith(f"{path}:1 (document 'v2')") and reason in message
    assert not store.collection_exists("c")  # nothing written, and no half-made collection (created with its first batch)


def test_dense_vectors_skip_bad_and_rerun(tmp_path, store, pair):
    rows = [V1, *[c[1].replace(b'"v2"', f'"v2-{k}"'.encode()) for k, c in enumerate(DENSE_CASES)], V3]
    path = write_jsonl(tmp_path / "dense.jsonl", rows)
    dense = DenseEncoder.precomputed(4)
    report = ingest(store, "c", path, pair=pair, dense=dense, skip_bad=True, show_progress=False)
    assert sorted((b.line, b.doc_id) for b in report.bad) == [(2 + k, f"v2-{k}") for k in range(len(DENSE_CASES))]
    for b in report.bad:
        assert DENSE_CASES[b.line - 2][2] in b.reason
    assert report.points_in_collection == 2
    got = {p.payload["doc_id"]: p.dense for p in store.retrieve("c", [point_id("v1"), point_id("v3")], with_vectors=True)}
    np.testing.assert_allclose(got["v1"], [1, 0, 0, 0])
    np.testing.assert_allclose(got["v3"], [0, 0.6, 0.8, 0], rtol=1e-6)  # cosine: stored normalised

    # same text, new vector: that is a change, so the point is rewritten; the rest is skipped
    rows[-1] = {**V3, "dense_vector": [0.0, 0.0, 0.0, 2.0]}
    write_jsonl(path, rows)
    again = ingest(store, "c", path, pair=pair, dense=dense, skip_bad=True, show_progress=False)
    assert (again.skipped_unchanged, again.points_written) == (1, 1)
    v3 = store.retrieve("c", [point_id("v3")], with_vectors=True)[0].dense
    np.testing.assert_allclose(v3, [0, 0, 0, 1])


def test_dense_vector_without_dense_side_is_refused(tmp_path, store, pair):
    path = write_jsonl(tmp_path / "dense.jsonl", [V1])
    with pytest.raises(InputError, match=r"dense.jsonl:1 \(document 'v1'\): document has a 'dense_vector'"):
        ingest(store, "c", path, pair=pair, show_progress=False)
