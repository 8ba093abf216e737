"""Constants and small plain helpers shared by the tests (no library code here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The read-only shared folder beside the repository (CI clones the repo next to it).
SHARED_DIR = Path(__file__).resolve().parents[1] / ".." / "shared"

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
