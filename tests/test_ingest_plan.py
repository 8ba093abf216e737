"""The ingest planners and progress lines, pure: no store, no model."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from splade_qdrant.ingest import plan_chunks, plan_documents
from splade_qdrant.ingest.progress import Progress


def payload(doc_id: str, digest: str, **extra: object) -> dict[str, object]:
    return {"doc_id": doc_id, "content_hash": digest, **extra}


def test_plan_documents_decides_each_case() -> None:
    want = [payload("new", "h"), payload("same", "h"), payload("text", "h2"), payload("meta", "h", lang="en"), payload("kept", "h")]
    stored = [None, payload("same", "h"), payload("text", "old"), payload("meta", "h", lang="fr"), payload("kept", "h", text="t")]
    plan = plan_documents(want, stored, insert_only=False, skip_unchanged=True, can_refresh=True, store_text=False)
    assert plan.encode == [0, 2] and plan.refresh == [3] and plan.skipped_unchanged == 2
    assert plan.payloads[4]["text"] == "t"  # stored text of an unchanged document stays
    # Without a refreshable collection the payload change is re-encoded; insert_only touches nothing stored.
    assert plan_documents(want, stored, insert_only=False, skip_unchanged=True, can_refresh=False, store_text=False).encode == [0, 2, 3]
    only = plan_documents(want, stored, insert_only=True, skip_unchanged=True, can_refresh=True, store_text=False)
    assert (only.encode, only.skipped_existing) == ([0], 4)
    # Asking for text on documents stored without it refreshes them; skip_unchanged=False encodes all stored ones.
    asked = plan_documents([payload("same", "h", text="t")], [payload("same", "h")], insert_only=False, skip_unchanged=True,
                           can_refresh=True, store_text=True)
    assert asked.refresh == [0]
    assert plan_documents(want, stored, insert_only=False, skip_unchanged=False, can_refresh=True, store_text=False).encode == [0, 1, 2, 3, 4]


def test_plan_chunks_needs_the_last_chunk_and_keeps_text() -> None:
    first = payload("a", "h", chunk={"index": 0, "count": 3}, text="window 0")
    want = [payload("a", "h"), payload("a", "h"), payload("a", "h2")]
    plan = plan_chunks(want, [first, first, first], [True, False, True], insert_only=False, skip_unchanged=True, store_text=False)
    assert plan.skipped_unchanged == 1 and plan.encode == [1, 2]
    assert plan.with_text == [True, False]  # unchanged text keeps its windows' text; changed text does not
    assert plan.old_counts == {0: 3, 1: 3, 2: 3}
    # store_text on windows stored without text re-encodes them with it.
    bare = payload("a", "h", chunk={"index": 0, "count": 1})
    asked = plan_chunks([payload("a", "h", text="x")], [bare], [True], insert_only=False, skip_unchanged=True, store_text=True)
    assert asked.encode == [0] and asked.with_text == [True]


def test_progress_line_has_rate_eta_and_stage() -> None:
    p = Progress("ingest c", total=1000, mode="lines", interval=3600, stream=io.StringIO())
    p.update(250)
    p.stage("encoding 512 documents")
    line = p.line(elapsed=50.0)
    p.close()
    assert line.startswith("ingest c: 250/1000 documents (25%), 5.0 documents/s, ETA 2 min 30 s, encoding 512 documents for")


@pytest.mark.slow
def test_ingest_package_imports_without_torch() -> None:
    """point_id and the payload helpers (used by the CLI, integrations and the Ray ingest) load no model code."""
    code = "import sys, splade_qdrant.ingest as m; m.point_id('a'); m.IngestReport('c'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "False"
