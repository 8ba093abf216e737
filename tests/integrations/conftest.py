"""Fixtures of the framework-adapter tests: an encoder pair on the tiny random BERT, a few
documents, a store holding them, and a helper that runs the CLI in-process and returns its
one-line error."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: A handful of documents for the fast tests (ids, texts from the tiny vocabulary).
DOCS = [
    ("d1", "wing lift at high speed"),
    ("d2", "heat transfer in the boundary layer"),
    ("d3", "shock wave and pressure on a flat plate"),
    ("d4", "turbulent flow in a wind tunnel test"),
    ("d5", "drag of a body at low mach number"),
]


@pytest.fixture(scope="session")
def random_pair(tiny_mlm: Any) -> Any:
    """Both sides on the tiny random BERT (documents 32 tokens, queries 16, truncated)."""
    from splade_qdrant.encoder import SpladeEncoder
    from splade_qdrant.pair import EncoderPair

    return EncoderPair(
        SpladeEncoder(tiny_mlm, max_length=32, long_docs="truncate"),
        SpladeEncoder(tiny_mlm, max_length=16, long_docs="truncate"),
    )


@pytest.fixture
def random_store(tmp_path: Path, random_pair: Any) -> Iterator[Any]:
    """An embedded Qdrant Edge store holding :data:`DOCS` (with text) in collection ``docs``."""
    from splade_qdrant.ingest import ingest
    from splade_qdrant.store import open_store

    store = open_store(tmp_path / "store")
    ingest(store, "docs", [{"id": i, "text": t} for i, t in DOCS], pair=random_pair, store_text=True, show_progress=False)
    yield store
    store.close()


def cli_error(argv: list[str]) -> str:
    """Run ``splade-qdrant ARGV`` in-process; the message after ``error: `` on its one stderr line."""
    from splade_qdrant.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    line = err.getvalue().strip()
    assert code == 2 and "\n" not in line and ": error: " in line, (code, line)
    return line.split(": error: ", 1)[1]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_lm: Any, tiny_tokenizer: Any) -> Path:
    """The tiny random BERT saved as a model directory (for APIs that take a model path)."""
    path = tmp_path_factory.mktemp("tiny-random-bert")
    tiny_lm.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    return path
