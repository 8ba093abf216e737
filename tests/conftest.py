"""Shared fixtures.

Two kinds of model are used:

* a tiny *randomly initialised* BERT masked LM with a small WordPiece tokenizer, both built in
  code (no files): fast unit tests of the encoder;
* the real small model ``../shared/models/splade-tiny`` and the BEIR datasets in
  ``../shared/datasets``: reference, integration and CLI tests (skipped with a clear reason
  when the shared folder is absent).

Expensive work (loading splade-tiny, ingesting Cranfield into both backends) happens once
per session.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Tokenizers' thread pool is pointless for these small inputs and warns after fork (subprocess tests).
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .helpers import CRAN_COLLECTION, DOC_MAX_LENGTH, QUERY_MAX_LENGTH, SHARED_DIR, IngestedStore, read_jsonl

#: Words of the tiny tokenizer's vocabulary (lower case; the normaliser lowercases).
TINY_WORDS = (
    "the of a in and to is for on with by at from as be are was this that it "
    "wing flow lift drag air speed high low heat transfer boundary layer shock wave "
    "pressure mach number plate surface angle attack body jet stream turbulent laminar "
    "model test tunnel data theory method result effect"
).split()
TINY_SUBWORDS = ["##s", "##ed", "##ing", "##er", "##ly", "##al"]
TINY_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# --------------------------------------------------------------------------- shared data


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared data folder {SHARED_DIR.resolve()} is missing (expected ../shared beside the repository)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def tiny_model_dir(shared_dir: Path) -> Path:
    path = shared_dir / "models" / "splade-tiny"
    if not (path / "config.json").is_file():
        pytest.skip(f"model {path.resolve()} is missing (expected ../shared/models/splade-tiny with config.json)")
    return path


@pytest.fixture(scope="session")
def cranfield_dir(shared_dir: Path) -> Path:
    path = shared_dir / "datasets" / "cranfield"
    if not (path / "corpus.jsonl").is_file() or not (path / "queries.jsonl").is_file():
        pytest.skip(f"dataset {path.resolve()} is missing (expected ../shared/datasets/cranfield in BEIR layout)")
    return path


@pytest.fixture(scope="session")
def cranfield_corpus(cranfield_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(cranfield_dir / "corpus.jsonl")


@pytest.fixture(scope="session")
def cranfield_queries(cranfield_dir: Path) -> list[dict[str, Any]]:
    return read_jsonl(cranfield_dir / "queries.jsonl")


# --------------------------------------------------------------------------- tiny random model


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    """A real BERT-style WordPiece fast tokenizer over a ~70-entry vocabulary, built in code."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([*TINY_SPECIALS, *TINY_WORDS, *TINY_SUBWORDS])}
    tk = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tk.normalizer = normalizers.BertNormalizer(lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tk.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )


@pytest.fixture(scope="session")
def tiny_lm(tiny_tokenizer: Any) -> Any:
    """A randomly initialised 2-layer BERT masked LM matching ``tiny_tokenizer`` (eval mode)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(1234)
    config = BertConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        pad_token_id=tiny_tokenizer.pad_token_id,
    )
    model = BertForMaskedLM(config).eval()
    # Random init gives a near-zero decoder bias; make it non-trivial so the bias path is tested.
    with torch.no_grad():
        model.cls.predictions.bias.normal_(0.0, 0.5)
    return model


@pytest.fixture(scope="session")
def tiny_mlm(tiny_lm: Any, tiny_tokenizer: Any) -> Any:
    """The tiny model wrapped as the library's MaskedLM, on CPU."""
    from splade_qdrant.encoder import MaskedLM

    return MaskedLM(tiny_lm, tiny_tokenizer, name="tiny-random-bert", device="cpu")


# --------------------------------------------------------------------------- splade-tiny


@pytest.fixture(scope="session")
def tiny_pair(tiny_model_dir: Path) -> Any:
    """splade-tiny on both sides: documents truncated at 256 tokens (REFERENCE.md), queries at 64, CPU float32."""
    from splade_qdrant.pair import EncoderPair

    return EncoderPair.from_pretrained(
        model=str(tiny_model_dir), doc_max_length=DOC_MAX_LENGTH, query_max_length=QUERY_MAX_LENGTH, long_docs="truncate",
        device="cpu",
    )


@pytest.fixture(scope="session")
def cran_edge(tmp_path_factory: pytest.TempPathFactory, tiny_pair: Any, cranfield_dir: Path) -> Iterator[IngestedStore]:
    """All 1,400 Cranfield documents ingested into an embedded Qdrant Edge store."""
    from splade_qdrant.ingest import ingest
    from splade_qdrant.store import open_store

    store = open_store(tmp_path_factory.mktemp("cran-edge") / "store")
    report = ingest(store, CRAN_COLLECTION, cranfield_dir / "corpus.jsonl", pair=tiny_pair, show_progress=False)
    yield IngestedStore(store, CRAN_COLLECTION, report)
    store.close()


@pytest.fixture(scope="session")
def cran_memory(tiny_pair: Any, cranfield_dir: Path) -> Iterator[IngestedStore]:
    """The same ingest into qdrant-client's in-process ``:memory:`` mode (same EncoderPair)."""
    from splade_qdrant.ingest import ingest
    from splade_qdrant.store import open_store

    store = open_store(":memory:")
    report = ingest(store, CRAN_COLLECTION, cranfield_dir / "corpus.jsonl", pair=tiny_pair, show_progress=False)
    yield IngestedStore(store, CRAN_COLLECTION, report)
    store.close()


@pytest.fixture
def clean_hf_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Hub access: offline mode off, and the Hub endpoint pointed at a closed local port."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("SPLADE_QDRANT_MODEL", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


def pytest_report_header(config: pytest.Config) -> str:
    where = SHARED_DIR.resolve()
    return f"shared data: {where} ({'present' if where.is_dir() else 'MISSING: model/dataset tests will skip'})"


# --------------------------------------------------------------------------- collection


def _module_is_all_slow(path: Path) -> bool:
    """Whether a test module sets ``pytestmark = pytest.mark.slow`` (alone or in a list), read from its source."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False  # pytest imports it and reports the error
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            return any(ast.unparse(m) == "pytest.mark.slow" for m in marks)
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The fast tier (``-m "not slow"``) does not import the modules whose every test is slow.

    ``-m`` deselects only after a module is imported, and those modules import FastAPI,
    schemathesis (which builds the app at import), the three RAG frameworks or the dense model
    package at module level: seconds of collection for tests that are deselected anyway. Any other
    ``-m`` expression, or none, collects every module as before.
    """
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    if " ".join(str(config.getoption("markexpr") or "").split()) != "not slow":
        return None
    return True if _module_is_all_slow(collection_path) else None
