"""Locating and loading masked LMs: missing paths, both Hub layouts, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from splade_qdrant.encoder import SpladeEncoder
from splade_qdrant.errors import ModelNotFoundError, SpladeQdrantError
from splade_qdrant.models import ModelLocation, locate
from splade_qdrant.pair import EncoderPair

from .helpers import DOC_MAX_LENGTH, QUERY_MAX_LENGTH, document_text

#: Hang guard for the no-network tests (a refused connection must not turn into a wait); not a speed check.
_NO_HANG_S = 120


def assert_one_line_hint(err: BaseException) -> None:
    text = str(err)
    assert "\n" not in text.strip(), text
    assert "local directory" in text, text


def linked_copy(src: Path, dst: Path) -> Path:
    """A new directory holding symlinks to ``src``'s files (a 'moved' copy of a model)."""
    dst.mkdir(parents=True)
    for f in src.iterdir():
        (dst / f.name).symlink_to(f.resolve())
    return dst


# --------------------------------------------------------------------------- local paths


def test_missing_directory_fails_fast_with_hint(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "model"
    with pytest.raises(ModelNotFoundError) as info:
        locate(str(missing), side="document")
    assert_one_line_hint(info.value)
    assert "does not exist" in str(info.value)
    assert isinstance(info.value, SpladeQdrantError) and isinstance(info.value, OSError)


@pytest.mark.parametrize("spelling", ["./no-such-model-dir", "../no-such-model-dir", "a/b/c"])
def test_path_like_names_are_not_sent_to_the_hub(spelling: str, clean_hf_env: None) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist") as info:
        locate(spelling, side="query")
    assert_one_line_hint(info.value)


def test_file_instead_of_directory(tmp_path: Path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(b"\0")
    with pytest.raises(ModelNotFoundError, match="not a directory") as info:
        locate(str(f), side="document")
    assert_one_line_hint(info.value)


def test_directory_without_config_json(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="config.json") as info:
        locate(str(tmp_path), side="document")
    assert_one_line_hint(info.value)


def test_plain_layout(tiny_model_dir: Path) -> None:
    loc = locate(str(tiny_model_dir), side="document")
    assert loc == ModelLocation(str(tiny_model_dir.resolve()), "", is_local=True)
    assert loc.label == str(tiny_model_dir.resolve())
    assert locate(str(tiny_model_dir), side="query") == loc


def test_sentence_transformers_layout_without_router(tiny_model_dir: Path, tmp_path: Path) -> None:
    """modules.json naming an MLMTransformer at the root (a plain SparseEncoder save)."""
    d = linked_copy(tiny_model_dir, tmp_path / "st-plain")
    (d / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.sparse_encoder.modules.mlm_transformer.MLMTransformer"},
        {"idx": 1, "name": "1", "path": "1_SpladePooling", "type": "sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling"},
    ]))
    assert locate(str(d), side="document").subfolder == ""


def test_bad_modules_json(tiny_model_dir: Path, tmp_path: Path) -> None:
    d = linked_copy(tiny_model_dir, tmp_path / "bad")
    (d / "modules.json").write_text("[{not json")
    with pytest.raises(ModelNotFoundError, match="modules.json") as info:
        locate(str(d), side="document")
    assert_one_line_hint(info.value)


def test_router_without_router_config(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.router.Router"}]))
    with pytest.raises(ModelNotFoundError, match="router_config.json") as info:
        locate(str(tmp_path), side="document")
    assert_one_line_hint(info.value)


# --------------------------------------------------------------------------- Router layout


def _build_router(tiny_model_dir: Path, out: Path, module: str) -> Path:
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder import modules as st_modules

    def side(max_len: int) -> list[Any]:
        if module == "MLMTransformer":
            mlm = st_modules.MLMTransformer(str(tiny_model_dir), max_seq_length=max_len)
        else:  # sentence-transformers >= 5.4 writes new SPLADE models this way
            mlm = st_modules.Transformer(str(tiny_model_dir), transformer_task="fill-mask", max_seq_length=max_len)
        return [mlm, st_modules.SpladePooling(pooling_strategy="max")]

    router = st_modules.Router.for_query_document(
        query_modules=side(QUERY_MAX_LENGTH), document_modules=side(DOC_MAX_LENGTH)
    )
    SparseEncoder(modules=[router], device="cpu").save(str(out))
    return out


@pytest.fixture(scope="module")
def router_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """splade-tiny saved by sentence-transformers as a query/document Router (MLMTransformer modules)."""
    return _build_router(tiny_model_dir, tmp_path_factory.mktemp("router") / "splade-tiny-router", "MLMTransformer")


@pytest.mark.slow  # builds a sentence-transformers Router model (~5 s idle)
def test_router_fixture_layout(router_dir: Path) -> None:
    cfg = json.loads((router_dir / "router_config.json").read_text())
    assert set(cfg["structure"]) == {"query", "document"}
    assert not (router_dir / "config.json").exists()  # no model at the root


@pytest.mark.slow  # builds a sentence-transformers Router model (~5 s idle)
def test_locate_router_sides(router_dir: Path) -> None:
    doc = locate(str(router_dir), side="document")
    query = locate(str(router_dir), side="query")
    assert doc.subfolder == "document_0_MLMTransformer"
    assert query.subfolder == "query_0_MLMTransformer"
    assert doc.source == query.source == str(router_dir.resolve())
    assert doc.label == f"{router_dir.resolve()}::document_0_MLMTransformer"
    assert (router_dir / doc.subfolder / "config.json").is_file()


@pytest.mark.slow  # builds a sentence-transformers Router model (~5 s idle)
def test_router_pair_encodes_like_plain_model(router_dir: Path, tiny_pair: EncoderPair, cranfield_corpus: list[dict[str, Any]],
                                              cranfield_queries: list[dict[str, Any]]) -> None:
    pair = EncoderPair.from_pretrained(
        model=str(router_dir), doc_max_length=DOC_MAX_LENGTH, query_max_length=QUERY_MAX_LENGTH, long_docs="truncate", device="cpu"
    )
    assert pair.document.name.endswith("::document_0_MLMTransformer")
    assert pair.query.name.endswith("::query_0_MLMTransformer")
    docs = [document_text(d.get("title"), d["text"]) for d in cranfield_corpus[:6]]
    queries = [q["text"] for q in cranfield_queries[:6]]
    vocab = tiny_pair.document.mlm.vocab_size
    for ours, plain, texts in ((pair.document, tiny_pair.document, docs), (pair.query, tiny_pair.query, queries)):
        got = np.stack([v.to_dense(vocab) for v in ours.encode(texts)])
        want = np.stack([v.to_dense(vocab) for v in plain.encode(texts)])
        assert np.abs(got - want).max() <= 1e-5


@pytest.mark.slow  # builds a sentence-transformers Router model (~5 s idle)
def test_router_without_requested_route(router_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "doc-only"
    d.mkdir()
    (d / "modules.json").write_text((router_dir / "modules.json").read_text())
    cfg = json.loads((router_dir / "router_config.json").read_text())
    del cfg["structure"]["query"]
    cfg["parameters"]["default_route"] = None
    (d / "router_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelNotFoundError, match="query") as info:
        locate(str(d), side="query")
    assert_one_line_hint(info.value)


@pytest.mark.slow  # builds a sentence-transformers Router model (~5 s idle)
def test_locate_router_with_fill_mask_transformer_modules(tiny_model_dir: Path, tmp_path: Path) -> None:
    d = _build_router(tiny_model_dir, tmp_path / "router-transformer", "Transformer")
    assert locate(str(d), side="document").subfolder == "document_0_Transformer"
    assert locate(str(d), side="query").subfolder == "query_0_Transformer"


# --------------------------------------------------------------------------- Hub ids, no network


@pytest.mark.timeout(_NO_HANG_S)
def test_hub_id_without_network_fails_fast(clean_hf_env: None) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        locate("naver/efficient-splade-VI-BT-large-doc", side="document")
    assert_one_line_hint(info.value)
    assert "naver/efficient-splade-VI-BT-large-doc" in str(info.value)


@pytest.mark.timeout(_NO_HANG_S)
def test_default_pair_without_network_fails_fast(clean_hf_env: None) -> None:
    """No model given: the default efficient-SPLADE preset needs the Hub, and says so quickly."""
    with pytest.raises(ModelNotFoundError) as info:
        EncoderPair.from_pretrained()
    assert_one_line_hint(info.value)


@pytest.mark.timeout(_NO_HANG_S)
def test_hub_id_offline_mode_fails_at_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # an empty cache
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    with pytest.raises(ModelNotFoundError) as info:
        SpladeEncoder.from_pretrained("splade-qdrant-tests/no-such-model", side="query")
    assert_one_line_hint(info.value)
