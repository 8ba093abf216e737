"""Helpers of the reliability tests: where the shared model and datasets are, JSONL writing,
real CLI subprocesses, store snapshots. (A uniquely named module, so that test folders with
their own conftest.py never shadow it.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..helpers import SHARED_DIR as SHARED

REPO = Path(__file__).resolve().parents[2]
MODEL = (SHARED / "models" / "splade-tiny").resolve()
DATASETS = (SHARED / "datasets").resolve()
CRANFIELD = DATASETS / "cranfield"
#: Document token budget of the fast fixtures (the model is real; short budgets keep CI fast).
FAST_DOC_LENGTH = 32

def read_corpus(dataset: str, n: int | None = None) -> list[dict[str, Any]]:
    """BEIR corpus lines as dicts (the first ``n``)."""
    out = []
    with open(DATASETS / dataset / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line))
                if n is not None and len(out) >= n:
                    break
    return out


def write_jsonl(path: Path, rows: Sequence[dict[str, Any] | bytes | str]) -> Path:
    """Write rows (dicts as JSON; bytes and str verbatim) one per line."""
    with open(path, "wb") as fh:
        for row in rows:
            if isinstance(row, dict):
                row = json.dumps(row, ensure_ascii=False)
            fh.write((row.encode("utf-8") if isinstance(row, str) else row) + b"\n")
    return path


def cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m splade_qdrant ARGS`` in a real subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "splade_qdrant", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit code 2, exactly one stderr line, no traceback, and every fragment in that line."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def model_args(doc_length: int = FAST_DOC_LENGTH) -> list[str]:
    return ["--model", str(MODEL), "--doc-max-length", str(doc_length), "--long-docs", "truncate", "--no-progress"]


def snapshot(store: Any, collection: str, doc_ids: Sequence[str]) -> dict[str, Any]:
    """Everything stored for ``doc_ids``: count, and per document its payload and exact vectors."""
    from splade_qdrant.ingest import point_id

    points = store.retrieve(collection, [point_id(d) for d in doc_ids], with_vectors=True)
    out: dict[str, Any] = {"count": store.count(collection)}
    for p in points:
        dense = None if p.dense is None else p.dense.tolist()
        out[p.payload["doc_id"]] = (p.payload, p.sparse.indices.tolist(), p.sparse.values.tolist(), dense)
    return out
