"""Fixtures of the reliability tests: the real splade-tiny model, real datasets in ``../shared``
and real Qdrant Edge stores in temporary folders."""

from __future__ import annotations

from typing import Any

import pytest

from .rel_helpers import DATASETS, FAST_DOC_LENGTH, MODEL, read_corpus


@pytest.fixture(autouse=True, scope="session")
def _shared_data_present() -> None:
    """Every reliability test uses the real model and datasets: skip them all, with the reason,
    when the shared folder is absent (as the other suites do)."""
    if not (MODEL / "config.json").is_file() or not (DATASETS / "cranfield" / "corpus.jsonl").is_file():
        pytest.skip(f"shared model/datasets missing under {DATASETS.parent} (expected ../shared beside the repository, or set SPLADE_QDRANT_SHARED)")


@pytest.fixture(scope="session")
def pair():
    """The real splade-tiny pair on CPU, documents truncated at FAST_DOC_LENGTH tokens."""
    from splade_qdrant.pair import EncoderPair

    return EncoderPair.from_pretrained(model=str(MODEL), doc_max_length=FAST_DOC_LENGTH, long_docs="truncate", device="cpu")


@pytest.fixture(scope="session")
def cran_docs() -> list[dict[str, Any]]:
    return read_corpus("cranfield")


@pytest.fixture
def store(tmp_path):
    from splade_qdrant.store.edge import EdgeStore

    with EdgeStore(tmp_path / "store") as s:
        yield s
