"""Constants and small plain helpers shared by the tests (no library code here)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _find_shared() -> Path:
    """The read-only shared folder (model and datasets): ``$SPLADE_QDRANT_SHARED``, else
    ``../shared`` beside the repository, else — for a clone made elsewhere, such as
    ``git clone . /tmp/x`` — the ``shared`` folder beside the local repository it was cloned from."""
    env = os.environ.get("SPLADE_QDRANT_SHARED")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    beside = repo.parent / "shared"
    if beside.is_dir():
        return beside
    try:
        origin = subprocess.run(["git", "-C", str(repo), "config", "--get", "remote.origin.url"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin and Path(origin).is_dir() and (Path(origin).resolve().parent / "shared").is_dir():
        return Path(origin).resolve().parent / "shared"
    return beside


#: The read-only shared folder (see :func:`_find_shared`; CI clones the repo next to it).
SHARED_DIR = _find_shared()

CRAN_COLLECTION = "cran"
DOC_MAX_LENGTH = 256
QUERY_MAX_LENGTH = 64


def document_text(title: str | None, text: str) -> str:
    """The text encoded for a document, as REFERENCE.md defines it (written here, not imported)."""
    title = (title or "").strip()
    return f"{title} {text.strip()}" if title else text.strip()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@dataclass
class IngestedStore:
    """A store holding all of Cranfield in collection ``name``, and the ingest's report."""

    store: Any
    name: str
    report: Any
