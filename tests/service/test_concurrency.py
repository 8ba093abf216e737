"""Ingest through POST /documents while 8 clients search, on a real uvicorn server."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveServer, make_settings

pytestmark = pytest.mark.slow

SEARCHERS = 8
BATCHES, PER_BATCH = 10, 12
QUERIES = ["slipstream effects on wings", "heat transfer", "shock wave boundary layer", "supersonic flow", "buckling of shells"]


def test_ingest_while_eight_clients_search(tmp_path: Path, tiny_model_dir: Path, cranfield_corpus: list[dict[str, Any]]) -> None:
    import httpx

    from splade_qdrant.service import create_app

    docs = cranfield_corpus[: PER_BATCH * (BATCHES + 1)]
    settings = make_settings(tmp_path / "store", collection="live", model=str(tiny_model_dir))
    with LiveServer(create_app(settings)) as server:
        first = httpx.post(f"{server.url}/documents", json={"documents": docs[:PER_BATCH]}, timeout=300)
        assert first.status_code == 200, first.text
        done = threading.Event()
        answers: list[list[int]] = [[] for _ in range(SEARCHERS)]
        counts: list[list[int]] = [[] for _ in range(SEARCHERS)]
        errors: list[BaseException] = []

        def search(k: int) -> None:
            try:
                with httpx.Client(base_url=server.url, timeout=120) as c:
                    i = 0
                    while not done.is_set() or i < 3:
                        r = c.post("/search", json={"text": QUERIES[(i + k) % len(QUERIES)], "limit": 5})
                        answers[k].append(r.status_code)
                        if r.status_code == 200:
                            counts[k].append(len(r.json()["hits"]))
                        i += 1
            except BaseException as exc:  # noqa: BLE001 — reported below
                errors.append(exc)

        threads = [threading.Thread(target=search, args=(k,)) for k in range(SEARCHERS)]
        for t in threads:
            t.start()
        reports = []
        try:
            with httpx.Client(base_url=server.url, timeout=300) as writer:
                for b in range(1, BATCHES + 1):
                    r = writer.post("/documents", json={"documents": docs[b * PER_BATCH : (b + 1) * PER_BATCH]})
                    assert r.status_code == 200, r.text
                    reports.append(r.json())
        finally:
            done.set()
            for t in threads:
                t.join(timeout=300)
        assert not errors, errors
        for k in range(SEARCHERS):
            assert answers[k] and set(answers[k]) == {200}, (k, answers[k])
            assert all(n == 5 for n in counts[k])
        assert [r["points_written"] for r in reports] == [PER_BATCH] * BATCHES
        expected_ids = {str(d.get("_id", d.get("id"))) for d in docs}
        info = httpx.get(f"{server.url}/collections/live", timeout=60).json()
        assert info["points"] == len(docs) == len(expected_ids)
        found = httpx.post(f"{server.url}/search", timeout=60,
                           json={"text": "flow", "limit": len(docs), "filter": {"doc_id": sorted(expected_ids)}}).json()["hits"]
        assert {h["id"] for h in found} == expected_ids
