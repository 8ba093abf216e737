"""Reading documents: JSONL files and Python iterables, validation with file:line messages."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from splade_qdrant.documents import BadInput, Document, content_hash, iter_documents, read_jsonl
from splade_qdrant.errors import InputError, SpladeQdrantError


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    with path.open("wb") as fh:
        for line in lines:
            fh.write(line if isinstance(line, bytes) else line.encode("utf-8"))
            fh.write(b"\n")
    return path


def jl(obj: Any) -> str:
    return json.dumps(obj)


GOOD1 = jl({"_id": "d1", "title": "Wings", "text": "lift and drag"})
GOOD2 = jl({"id": "d2", "text": "shock waves", "year": 1960})


# --------------------------------------------------------------------------- happy paths


def test_ids_title_and_payload(tmp_path: Path) -> None:
    f = write_lines(tmp_path / "corpus.jsonl", [
        jl({"_id": "a", "title": "  Wings  ", "text": "  lift  ", "lang": "en", "tags": ["x", "y"], "meta": {"n": 1.5}}),
        jl({"id": 7, "text": "no title", "title": ""}),
        "",  # blank lines are ignored
        jl({"_id": "c", "text": "null title", "title": None}),
    ])
    docs = list(read_jsonl(f))
    assert [d.id for d in docs] == ["a", "7", "c"]
    assert docs[0].text == "Wings lift"
    assert docs[0].metadata == {"title": "  Wings  ", "lang": "en", "tags": ["x", "y"], "meta": {"n": 1.5}}
    assert docs[1].text == "no title"
    assert docs[2].text == "null title"
    assert (docs[0].source, docs[0].line) == (str(f), 1)
    assert docs[2].line == 4  # line numbers count blank lines
    assert "_id" not in docs[0].metadata and "text" not in docs[0].metadata


def test_underscore_id_wins_over_id(tmp_path: Path) -> None:
    f = write_lines(tmp_path / "c.jsonl", [jl({"_id": "beir", "id": "other", "text": "t"})])
    (doc,) = read_jsonl(f)
    assert doc.id == "beir"
    assert doc.metadata == {"id": "other"}  # kept as payload, never dropped silently


def test_iter_documents_accepts_path_strings(tmp_path: Path) -> None:
    f = write_lines(tmp_path / "c.jsonl", [GOOD1, GOOD2])
    assert [d.id for d in iter_documents(str(f))] == ["d1", "d2"]
    assert [d.id for d in iter_documents(f)] == ["d1", "d2"]


def test_empty_text_is_accepted(tmp_path: Path) -> None:
    """Documented rule: empty / whitespace-only text is stored like any other document."""
    f = write_lines(tmp_path / "c.jsonl", [jl({"_id": "e1", "text": ""}), jl({"_id": "e2", "text": "   ", "title": " "})])
    docs = list(read_jsonl(f))
    assert [(d.id, d.text) for d in docs] == [("e1", ""), ("e2", "")]


def test_dense_vector_field_is_not_payload() -> None:
    (doc,) = iter_documents([{"id": "v", "text": "t", "dense_vector": [0.5, 0.25]}])
    assert doc.dense_vector == [0.5, 0.25]
    assert "dense_vector" not in doc.metadata


def test_python_dicts_tuples_and_documents() -> None:
    given = Document("z", "already built", {"k": 1})
    docs = list(iter_documents([
        {"id": "a", "text": "dict"},
        ("b", "pair"),
        ("c", "triple", {"lang": "fr"}),
        (4, "int id"),
        given,
    ]))
    assert [d.id for d in docs] == ["a", "b", "c", "4", "z"]
    assert docs[1].text == "pair" and docs[1].metadata == {}
    assert docs[2].metadata == {"lang": "fr"}
    assert docs[4] is given
    assert docs[0].source == "<iterable>" and docs[0].line == 1 and docs[3].line == 4


def test_content_hash_is_stable_and_text_sensitive() -> None:
    assert content_hash("wing") == content_hash("wing")
    assert content_hash("wing") != content_hash("wings")
    assert isinstance(content_hash(""), str) and len(content_hash("")) == 24


# --------------------------------------------------------------------------- bad lines: file and line


BAD_LINES: list[tuple[str, str | bytes, str]] = [
    ("malformed-json", '{"_id": "x", "text": ', "malformed JSON"),
    ("invalid-utf8", b'{"_id": "x", "text": "caf\xe9"}', "UTF-8"),
    ("missing-id", jl({"text": "no id"}), "id"),
    ("empty-id", jl({"_id": "", "text": "t"}), "id"),
    ("bool-id", jl({"_id": True, "text": "t"}), "id"),
    ("float-id", jl({"_id": 1.5, "text": "t"}), "id"),
    ("missing-text", jl({"_id": "x"}), "'text' is missing"),
    ("int-text", jl({"_id": "x", "text": 42}), "'text'"),
    ("list-text", jl({"_id": "x", "text": ["a"]}), "list"),
    ("lone-surrogate", '{"_id": "x", "text": "bad \\ud800 text"}', "surrogate"),
    ("dict-title", jl({"_id": "x", "text": "t", "title": {"a": 1}}), "'title'"),
    ("not-object", jl(["_id", "x"]), "JSON object"),
    ("reserved-doc_id", jl({"_id": "x", "text": "t", "doc_id": "y"}), "reserved"),
    ("reserved-content_hash", jl({"_id": "x", "text": "t", "content_hash": "h"}), "reserved"),
    ("nan-payload", '{"_id": "x", "text": "t", "score": NaN}', "JSON cannot hold"),
    ("inf-payload", '{"_id": "x", "text": "t", "score": Infinity}', "JSON cannot hold"),
    ("nested-nan-payload", '{"_id": "x", "text": "t", "m": {"a": [1, -Infinity]}}', "m.a[1]"),
    ("duplicate-id", jl({"_id": "d1", "text": "again"}), "duplicate"),
]


@pytest.mark.parametrize(("case", "bad", "reason"), BAD_LINES, ids=[c[0] for c in BAD_LINES])
def test_bad_line_names_file_and_line(tmp_path: Path, case: str, bad: str | bytes, reason: str) -> None:
    f = write_lines(tmp_path / "file.jsonl", [GOOD1, GOOD2, bad, GOOD1.replace('"d1"', '"d4"')])
    with pytest.raises(InputError) as info:
        list(iter_documents(f))
    err = info.value
    assert f"file.jsonl:3" in str(err), str(err)
    assert reason in str(err), str(err)
    assert err.line == 3 and err.source == str(f)
    assert isinstance(err, SpladeQdrantError) and isinstance(err, ValueError)
    assert "\n" not in str(err)
    if case != "duplicate-id":  # read_jsonl checks lines; duplicates are iter_documents' job
        with pytest.raises(InputError, match="file.jsonl:3"):
            list(read_jsonl(f))


def test_error_names_document_id_when_known(tmp_path: Path) -> None:
    f = write_lines(tmp_path / "file.jsonl", [GOOD1, jl({"_id": "bad-one", "text": 3})])
    with pytest.raises(InputError) as info:
        list(iter_documents(f))
    assert info.value.doc_id == "bad-one"
    assert str(info.value).startswith(f"{f}:2 (document 'bad-one'): ")


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        list(iter_documents(tmp_path / "nope.jsonl"))
    with pytest.raises(InputError, match="not a file"):
        list(iter_documents(tmp_path))


def test_skip_bad_collects_and_yields_the_rest(tmp_path: Path) -> None:
    f = write_lines(tmp_path / "file.jsonl", [
        GOOD1,                                        # 1
        '{"_id": broken',                             # 2
        GOOD2,                                        # 3
        b'{"_id": "u", "text": "\xff"}',              # 4
        jl({"_id": "d1", "text": "duplicate"}),       # 5
        jl({"_id": "r", "text": "t", "text2": 1, "doc_id": 1}),  # 6 reserved
        jl({"_id": "ok3", "text": ""}),               # 7
    ])
    bad: list[BadInput] = []
    docs = list(iter_documents(f, skip_bad=True, bad=bad))
    assert [d.id for d in docs] == ["d1", "d2", "ok3"]
    assert [b.line for b in bad] == [2, 4, 5, 6]
    assert all(b.source == str(f) for b in bad)
    assert bad[2].doc_id == "d1" and "duplicate" in bad[2].reason
    assert str(bad[0]).startswith(f"{f}:2: malformed JSON")
    assert "file.jsonl:6 (document 'r')" in str(bad[3])


def test_skip_bad_without_list_still_yields() -> None:
    docs = list(iter_documents([{"id": "a", "text": "t"}, {"text": "no id"}, {"id": "b", "text": "u"}], skip_bad=True))
    assert [d.id for d in docs] == ["a", "b"]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"id": "x", "text": "t", "v": math.nan}, "JSON cannot hold"),
        ({"id": "x", "text": "t", "v": {1: "a"}}, "non-string key"),
        ({"id": "x", "text": "t", "v": object()}, "type object"),
        ({"id": "x", "text": "t", "v": {1, 2}}, "type set"),
        (("x", "t", ["not", "a", "dict"]), "metadata dict"),
        (("only-id",), "expected a dict"),
        ("just a string", "expected a dict"),
        (None, "expected a dict"),
    ],
)
def test_bad_python_items(item: Any, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as info:
        list(iter_documents([{"id": "first", "text": "ok"}, item]))
    assert info.value.line == 2
    assert info.value.source == "<iterable>"


def test_duplicate_ids_in_python_input() -> None:
    with pytest.raises(InputError, match="duplicate") as info:
        list(iter_documents([("a", "one"), {"id": "a", "text": "two"}]))
    assert info.value.doc_id == "a" and info.value.line == 2


def test_int_and_string_ids_collide() -> None:
    """Ids are strings: 1 and "1" are the same document."""
    with pytest.raises(InputError, match="duplicate"):
        list(iter_documents([(1, "one"), ("1", "two")]))
