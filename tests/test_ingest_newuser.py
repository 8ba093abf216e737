"""What a new user hits at ingest (issue 16 items 3-7, 12, 14), with the tiny random model.

Each test failed before its fix: options silently ignored on an existing collection, chunk +
store_text re-encoding everything, ``id`` dropped beside ``_id``, half-made collections, no
``delete_missing``, compressed / JSON-array / CSV input, ``skip_bad`` with nothing good, and
silence when stderr is not a terminal.
"""

from __future__ import annotations

import bz2
import gzip
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from splade_qdrant.documents import iter_documents
from splade_qdrant.encoder import MaskedLM, SpladeEncoder
from splade_qdrant.errors import ConfigError, FingerprintMismatchError, InputError
from splade_qdrant.ingest import ingest, point_id
from splade_qdrant.pair import EncoderPair
from splade_qdrant.store import open_store
from splade_qdrant.store.base import Store

LONG = " ".join(["wing flow lift drag air speed high low heat transfer"] * 4)  # ~40 tokens: 3+ windows of 16


@pytest.fixture(scope="module")
def pair(tiny_mlm: MaskedLM) -> EncoderPair:
    return EncoderPair(SpladeEncoder(tiny_mlm, max_length=16), SpladeEncoder(tiny_mlm, max_length=8))


@pytest.fixture(scope="module")
def chunk_pair(tiny_mlm: MaskedLM) -> EncoderPair:
    return EncoderPair(SpladeEncoder(tiny_mlm, max_length=16, long_docs="chunk"), SpladeEncoder(tiny_mlm, max_length=8))


@pytest.fixture(params=["edge", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "store") if request.param == "edge" else open_store(":memory:")
    yield s
    s.close()


def write_jsonl(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


DOCS = [{"_id": str(i), "text": t} for i, t in enumerate(["wing flow", "lift and drag", "heat transfer", "shock wave", LONG])]


# ------------------------------------------------------------------ 3: options refused, not ignored


def test_query_settings_differing_from_recorded_are_refused(store: Store, pair: EncoderPair) -> None:
    ingest(store, "t", DOCS[:2], pair=pair, show_progress=False)
    other = EncoderPair(pair.document, SpladeEncoder(pair.query.mlm, max_length=12, top_k=2))
    with pytest.raises(FingerprintMismatchError, match="query encoder.*max_length"):
        ingest(store, "t", DOCS[2:], pair=other, show_progress=False)
    assert store.count("t") == 2


def test_sparse_datatype_differing_from_recorded_is_refused(store: Store, pair: EncoderPair) -> None:
    ingest(store, "t", DOCS[:2], pair=pair, sparse_datatype="uint8", show_progress=False)
    with pytest.raises(ConfigError, match="uint8"):
        ingest(store, "t", DOCS[2:], pair=pair, sparse_datatype="float32", show_progress=False)
    with pytest.raises(ConfigError, match="IDF"):
        ingest(store, "t", DOCS[2:], pair=pair, allow_idf=True, show_progress=False)
    # Not given: the recorded one.
    report = ingest(store, "t", DOCS[2:], pair=pair, show_progress=False)
    assert report.points_in_collection == len(DOCS)
    assert store.spec("t").sparse_datatype == "uint8"


# ------------------------------------------------------------------ 4: chunk + store_text reruns


def test_chunk_store_text_rerun_skips_unchanged(store: Store, chunk_pair: EncoderPair) -> None:
    first = ingest(store, "t", DOCS, pair=chunk_pair, store_text=True, show_progress=False)
    assert first.points_written > len(DOCS)  # the long one is split
    again = ingest(store, "t", DOCS, pair=chunk_pair, store_text=True, show_progress=False)
    assert (again.points_written, again.skipped_unchanged) == (0, len(DOCS))


def test_rerun_without_store_text_keeps_stored_text(store: Store, pair: EncoderPair, chunk_pair: EncoderPair) -> None:
    ingest(store, "t", DOCS, pair=pair, store_text=True, show_progress=False)
    again = ingest(store, "t", DOCS, pair=pair, show_progress=False)
    assert (again.points_written, again.skipped_unchanged) == (0, len(DOCS))
    (p,) = store.retrieve("t", [point_id("0")])
    assert p.payload["text"] == "wing flow"
    # A payload change keeps the text too.
    changed = [{**DOCS[0], "lang": "en"}]
    report = ingest(store, "t", changed, pair=pair, show_progress=False)
    assert report.payload_updated == 1
    (p,) = store.retrieve("t", [point_id("0")])
    assert p.payload["text"] == "wing flow" and p.payload["lang"] == "en"
    # Chunked collections keep each window's text.
    ingest(store, "c", DOCS, pair=chunk_pair, store_text=True, show_progress=False)
    again = ingest(store, "c", DOCS, pair=chunk_pair, show_progress=False)
    assert (again.points_written, again.skipped_unchanged) == (0, len(DOCS))
    (p,) = store.retrieve("c", [point_id("4", 1)])
    assert p.payload["text"]


# ------------------------------------------------------------------ 5: _id and id


def test_id_beside_underscore_id_is_kept_as_payload() -> None:
    (doc,) = iter_documents([{"_id": "a", "id": "x-7", "text": "wing"}])
    assert doc.id == "a"
    assert doc.metadata == {"id": "x-7"}


# ------------------------------------------------------------------ 6: nothing half-made


def test_failed_first_batch_leaves_no_collection(store: Store, pair: EncoderPair) -> None:
    with pytest.raises(InputError):
        ingest(store, "t", [{"id": "a"}], pair=pair, show_progress=False)
    assert not store.collection_exists("t")

    class NaNDense:
        name, dim, distance = "nan-dense", 4, "cosine"

        def encode(self, texts: list[str]) -> np.ndarray:
            return np.full((len(texts), 4), np.nan, dtype=np.float32)

        def settings(self) -> dict[str, Any]:
            return {"model": self.name, "dim": self.dim}

    with pytest.raises(InputError, match="NaN"):
        ingest(store, "t", DOCS, pair=pair, dense=NaNDense(), show_progress=False)
    assert not store.collection_exists("t")
    # The corrected rerun with other settings works.
    other = EncoderPair(SpladeEncoder(pair.document.mlm, max_length=12), pair.query)
    assert ingest(store, "t", DOCS, pair=other, show_progress=False).points_in_collection == len(DOCS)


def test_empty_or_missing_file_is_refused_before_anything(tmp_path: Path, store: Store, pair: EncoderPair) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        ingest(store, "t", empty, pair=pair, show_progress=False)
    with pytest.raises(InputError, match="not found"):
        ingest(store, "t", tmp_path / "nope.jsonl", pair=pair, show_progress=False)
    assert not store.collection_exists("t")


def test_cli_checks_the_input_before_loading_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from splade_qdrant.cli import main

    store = tmp_path / "store"
    code = main(["ingest", str(tmp_path / "missing.jsonl"), "-c", "t", "--store", str(store), "--model", str(tmp_path / "no-model")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "missing.jsonl" in err and "not found" in err
    assert not (store.exists() and any(store.iterdir()))


def test_cli_checks_options_before_loading_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from splade_qdrant.cli import main

    corpus = write_jsonl(tmp_path / "c.jsonl", DOCS)
    for bad in (["--batch-size", "0"], ["--doc-max-length", "1"], ["--doc-top-k", "0"], ["--window-overlap", "-1"]):
        code = main(["ingest", str(corpus), "-c", "t", "--store", str(tmp_path / "s"), "--model", str(tmp_path / "no-model"), *bad])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, bad
        assert bad[0].lstrip("-").replace("-", "_") in err.replace("-", "_") and "no-model" not in err, err


# ------------------------------------------------------------------ 7: delete_missing


@pytest.mark.parametrize("chunked", [False, True])
def test_delete_missing_mirrors_the_source(store: Store, pair: EncoderPair, chunk_pair: EncoderPair, chunked: bool) -> None:
    p = chunk_pair if chunked else pair
    ingest(store, "t", DOCS, pair=p, show_progress=False)
    kept = [d for d in DOCS if d["_id"] not in ("1", "4")]
    report = ingest(store, "t", kept, pair=p, show_progress=False)
    assert report.deleted_documents == 0 and store.count("t") >= len(DOCS)  # never without the flag
    report = ingest(store, "t", kept, pair=p, delete_missing=True, show_progress=False)
    assert report.deleted_documents == 2
    assert "2 documents no longer in the input deleted" in report.summary()
    assert report.points_in_collection == store.count("t") == len(kept)
    assert {q.payload["doc_id"] for q in store.iter_points("t")} == {d["_id"] for d in kept}


def test_delete_missing_keeps_documents_of_skipped_bad_lines(store: Store, pair: EncoderPair) -> None:
    ingest(store, "t", DOCS[:3], pair=pair, show_progress=False)
    src = [DOCS[0], {"_id": "1", "text": 5}, DOCS[2]]
    report = ingest(store, "t", src, pair=pair, delete_missing=True, skip_bad=True, show_progress=False)
    assert report.deleted_documents == 0 and store.count("t") == 3


# ------------------------------------------------------------------ 12: input formats


@pytest.mark.parametrize("opener,suffix", [(gzip.open, ".jsonl.gz"), (bz2.open, ".jsonl.bz2")])
def test_compressed_jsonl_is_read(tmp_path: Path, store: Store, pair: EncoderPair, opener: Any, suffix: str) -> None:
    path = tmp_path / f"corpus{suffix}"
    with opener(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in DOCS)
    assert ingest(store, "t", path, pair=pair, show_progress=False).points_in_collection == len(DOCS)


def test_zstd_jsonl_is_read_when_zstandard_is_installed(tmp_path: Path, store: Store, pair: EncoderPair) -> None:
    zstandard = pytest.importorskip("zstandard")
    path = tmp_path / "corpus.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress("".join(json.dumps(d) + "\n" for d in DOCS).encode()))
    assert ingest(store, "t", path, pair=pair, show_progress=False).points_in_collection == len(DOCS)


def test_json_array_and_csv_say_what_is_expected(tmp_path: Path, store: Store, pair: EncoderPair) -> None:
    arr = tmp_path / "corpus.json"
    arr.write_text(json.dumps(DOCS, indent=2), encoding="utf-8")
    with pytest.raises(InputError, match=r"JSONL: one JSON object per line.*jq -c '\.\[\]'"):
        ingest(store, "t", arr, pair=pair, show_progress=False)
    csv = tmp_path / "corpus.csv"
    csv.write_text("_id,text\n1,wing flow\n", encoding="utf-8")
    with pytest.raises(InputError, match="JSONL: one JSON object per line.*CSV"):
        ingest(store, "t", csv, pair=pair, show_progress=False)
    assert not store.collection_exists("t")


def test_skip_bad_with_every_line_bad_fails(store: Store, pair: EncoderPair) -> None:
    with pytest.raises(InputError, match="all 2 input lines were bad"):
        ingest(store, "t", [{"id": "a"}, {"text": "x"}], pair=pair, skip_bad=True, show_progress=False)


def test_stop_on_bad_line_says_what_was_stored(store: Store, pair: EncoderPair) -> None:
    src = [*DOCS[:4], {"id": "bad"}]
    with pytest.raises(InputError, match=r"4 documents were stored before.*rerun") as info:
        ingest(store, "t", src, pair=pair, chunk_size=2, show_progress=False)
    assert info.value.line == 5
    assert store.count("t") == 4


# ------------------------------------------------------------------ 14: progress without a terminal


def test_progress_lines_when_stderr_is_not_a_terminal(
    store: Store, pair: EncoderPair, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPLADE_QDRANT_PROGRESS_INTERVAL", "0.02")
    released = threading.Event()

    class SlowDense:
        """A dense encoder that takes a while: the ingest must still say something."""

        name, dim, distance = "slow-dense", 4, "cosine"

        def encode(self, texts: list[str]) -> np.ndarray:
            released.wait(0.5)
            return np.ones((len(texts), 4), dtype=np.float32)

        def settings(self) -> dict[str, Any]:
            return {"model": self.name, "dim": self.dim}

    ingest(store, "t", [DOCS[0]], pair=pair, dense=SlowDense())  # show_progress=None: stderr is captured, not a tty
    err = capsys.readouterr().err
    assert "ingest t:" in err and "encoding" in err
    assert "documents/s" in err or "0/1" in err


# ------------------------------------------------------------------ the same through the CLI (real small model)


@pytest.mark.slow
def test_cli_refuses_ignored_options_and_mirrors_with_delete_missing(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from splade_qdrant.cli import main

    for name in ("QDRANT_URL", "SPLADE_QDRANT_STORE", "SPLADE_QDRANT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    corpus = write_jsonl(tmp_path / "c.jsonl", DOCS)
    base = ["ingest", str(corpus), "-c", "t", "--store", str(tmp_path / "s"), "--model", str(tiny_model_dir),
            "--long-docs", "truncate", "--no-progress", "--json"]
    assert main([*base, "--sparse-datatype", "uint8"]) == 0
    capsys.readouterr()
    for extra, says in ((["--sparse-datatype", "float32"], "uint8"), (["--query-max-length", "32"], "max_length"),
                        (["--query-top-k", "2"], "top_k"), (["--allow-idf"], "IDF"), (["--long-docs", "window"], "long_docs")):
        code = main([*base, *extra])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and says in err, (extra, err)
    assert main(base) == 0
    assert json.loads(capsys.readouterr().out)["skipped_unchanged"] == len(DOCS)
    write_jsonl(corpus, DOCS[:3])
    assert main([*base, "--delete-missing"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["deleted_documents"], report["points_in_collection"]) == (2, 3)
