"""The HTTP API on the real model (splade-tiny) and a real Qdrant Edge store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from splade_qdrant.documents import iter_documents
from splade_qdrant.errors import InputError
from splade_qdrant.ingest import point_id

from .conftest import COLLECTION, N_DOCS, make_settings

if TYPE_CHECKING:  # FastAPI is imported by the tests, not at collection (the fast tier deselects them all)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow  # the real model and a real store, several app lifespans

QUERY = "slipstream effects on wings"


def _json(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def test_search_hits_are_those_of_the_library(client: TestClient) -> None:
    sq = client.app.state.service.sq  # type: ignore[attr-defined]
    for body, options in [
        ({"text": QUERY, "limit": 5}, {"limit": 5}),
        ({"text": QUERY, "limit": 3, "offset": 2, "explain": True}, {"limit": 3, "offset": 2, "explain": True}),
    ]:
        resp = client.post("/search", json=body)
        assert resp.status_code == 200, resp.text
        expected = [h.as_dict() for h in sq.search(QUERY, **options)]
        assert resp.json()["hits"] == _json(expected)
        assert len(expected) == options["limit"]


def test_batch_equals_single_searches(client: TestClient) -> None:
    texts = [QUERY, "heat transfer in laminar boundary layers", "shock wave"]
    resp = client.post("/search/batch", json={"texts": texts, "limit": 4})
    assert resp.status_code == 200, resp.text
    batched = [r["hits"] for r in resp.json()["results"]]
    single = [client.post("/search", json={"text": t, "limit": 4}).json()["hits"] for t in texts]
    assert [[h["id"] for h in hits] for hits in batched] == [[h["id"] for h in hits] for hits in single]
    for b, s in zip(batched, single):  # encoded together or alone: equal up to float rounding
        assert [h["score"] for h in b] == pytest.approx([h["score"] for h in s], rel=1e-4)


def test_filter_restricts_hits(client: TestClient) -> None:
    hits = client.post("/search", json={"text": QUERY, "filter": {"doc_id": ["3", "7"]}, "limit": 10}).json()["hits"]
    assert {h["id"] for h in hits} <= {"3", "7"} and hits


def test_highlights_mark_words_that_carry_matching_terms(client: TestClient) -> None:
    resp = client.post("/search", json={"text": QUERY, "limit": 5, "highlight": True})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert len(body["highlights"]) == len(body["hits"]) == 5
    marked_words = set()
    for hit, hl in zip(body["hits"], body["highlights"]):
        assert hl["field"] == "text"
        full = hit["payload"]["text"]
        assert full[hl["start"] : hl["start"] + len(hl["text"])] == hl["text"]
        matched = {m["term"]: m["contribution"] for m in hit["explanation"]}
        for span in hl["spans"]:
            word = hl["text"][span["start"] : span["end"]]
            assert word and word.strip() == word
            marked_words.add(word.lower())
            assert set(span["terms"]) <= set(matched)
            assert span["contribution"] == pytest.approx(sum(matched[t] for t in span["terms"]))
        # every matching term is either marked somewhere in the text or listed as absent from it
        absent = {t["term"] for t in hl["unmatched_terms"]}
        for term in matched:
            plain = term.removeprefix("##")
            assert term in absent or plain in full.lower()
    assert "slipstream" in marked_words


def test_collection_info_health_and_metrics(client: TestClient) -> None:
    info = client.get(f"/collections/{COLLECTION}").json()
    assert info["points"] == N_DOCS
    assert info["fingerprint"]["document"]["model"].endswith("splade-tiny")
    assert client.get("/collections/other").status_code == 404
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["collection_exists"] and health["batching"]
    client.post("/search", json={"text": QUERY})
    text = client.get("/metrics").text
    assert 'splade_qdrant_requests_total{endpoint="/search",method="POST",status="200"}' in text
    assert "splade_qdrant_queue_depth 0" in text
    encoded = next(line for line in text.splitlines() if line.startswith("splade_qdrant_query_encoded_texts_total "))
    assert int(encoded.split()[1]) >= 1
    assert f"splade_qdrant_points {N_DOCS}" in text


def test_embed_sparse_has_tei_shapes_and_the_encoders_vectors(client: TestClient) -> None:
    state = client.app.state.service  # type: ignore[attr-defined]
    one = client.post("/embed_sparse", json={"inputs": "wing flutter"})
    assert one.status_code == 200, one.text
    rows = one.json()
    assert isinstance(rows, list) and len(rows) == 1 and set(rows[0][0]) == {"index", "value"}
    doc_vec = state.sq.pair.document.encode(["wing flutter"])[0]
    assert [r["index"] for r in rows[0]] == doc_vec.indices.tolist()
    np.testing.assert_allclose([r["value"] for r in rows[0]], doc_vec.values, rtol=1e-6)
    many = client.post("/embed_sparse?side=query", json={"inputs": ["wing flutter", "shock"]}).json()
    query_vecs = state.searcher().encode(["wing flutter", "shock"])
    assert [[r["index"] for r in row] for row in many] == [v.indices.tolist() for v in query_vecs]


@pytest.mark.parametrize(
    "body",
    [
        {"text": QUERY, "limit": 0},
        {"text": QUERY, "limit": 20_000},
        {"text": QUERY, "limit": 900, "offset": 200},  # over --max-limit 1000
        {"limit": 3},
        {"text": ""},
        {"text": QUERY, "unknown": 1},
        {"text": QUERY, "mode": "fuzzy"},
        {"text": QUERY, "weights": [1, 2, 3]},
        {"text": QUERY, "score_threshold": "high"},
        {"text": QUERY, "filter": {"": "x"}},
    ],
)
def test_invalid_requests_are_422(client: TestClient, body: dict[str, Any]) -> None:
    resp = client.post("/search", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"]


def test_library_refusals_are_422_with_the_librarys_message(client: TestClient) -> None:
    resp = client.post("/search", json={"text": QUERY, "mode": "hybrid"})
    assert resp.status_code == 422
    assert "has no dense vectors" in resp.json()["detail"]
    assert client.post("/search", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422


def test_body_cap_is_413(cran_store: Path, client: TestClient) -> None:
    from fastapi.testclient import TestClient

    from splade_qdrant.service import create_app

    app = create_app(make_settings(cran_store, max_body_bytes=2048), collection=client.app.state.service.sq)  # type: ignore[attr-defined]
    with TestClient(app) as small:
        assert small.post("/search", json={"text": "x" * 5000}).status_code == 413
        streamed = small.post("/search", content=iter([b'{"text": "', b"y" * 4000, b'"}']), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert small.post("/search", json={"text": QUERY}).status_code == 200


def test_client_auth_and_cors(cran_store: Path, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from splade_qdrant.service import create_app

    sq = client.app.state.service.sq  # type: ignore[attr-defined]
    assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": "http://elsewhere"}).headers
    monkeypatch.setenv("SPLADE_QDRANT_AUTH_KEY", "s3cret")
    with TestClient(create_app(make_settings(cran_store, cors_origins=("http://app.example",)), collection=sq)) as c:
        body = {"text": QUERY, "limit": 1}
        denied = c.post("/search", json=body)
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
        assert c.post("/search", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/search", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.post("/search", json=body, headers={"api-key": "s3cret"}).status_code == 200
        assert c.get("/metrics").status_code == 401
        assert c.get("/health").status_code == 200
        pre = c.options("/search", headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
        assert pre.headers["access-control-allow-origin"] == "http://app.example"
    with TestClient(create_app(make_settings(cran_store, auth_key="argkey"), collection=sq)) as c:  # argument beats environment
        assert c.post("/search", json={"text": QUERY}, headers={"api-key": "argkey"}).status_code == 200


def test_page_and_openapi_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<form" in page.text and "/static/app.js" in page.text
    assert "fetch(" in client.get("/static/app.js").text
    schema = client.get("/openapi.json").json()
    assert {"/search", "/search/batch", "/documents", "/documents/{doc_id}", "/collections/{name}", "/health", "/metrics",
            "/embed_sparse"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_documents_ingest_update_delete(tmp_path: Path, tiny_model_dir: Path) -> None:
    from fastapi.testclient import TestClient

    from splade_qdrant.service import create_app

    settings = make_settings(tmp_path / "store", collection="fresh", model=str(tiny_model_dir))
    docs = [{"_id": "a", "title": "Wing flutter", "text": "flutter of a swept wing at high speed", "lang": "en"},
            {"id": 7, "text": "heat transfer in the laminar boundary layer"}]
    with TestClient(create_app(settings)) as c:
        assert c.post("/search", json={"text": "wing"}).status_code == 404  # no collection before the first ingest
        first = c.post("/documents", json={"documents": docs})
        assert first.status_code == 200, first.text
        assert first.json()["points_written"] == 2 and first.json()["points_in_collection"] == 2
        hits = c.post("/search", json={"text": "wing flutter"}).json()["hits"]
        assert hits[0]["id"] == "a" and hits[0]["point_id"] == point_id("a")
        assert hits[0]["payload"]["lang"] == "en" and hits[0]["payload"]["text"] == "Wing flutter flutter of a swept wing at high speed"
        again = c.post("/documents", json={"documents": docs}).json()
        assert again["skipped_unchanged"] == 2 and again["points_written"] == 0
        # the CLI's validation and message for a bad document
        bad = [{"id": "ok", "text": "fine"}, {"id": "b", "title": 3, "text": "x"}]
        with pytest.raises(InputError) as expected:
            list(iter_documents(bad))
        refused = c.post("/documents", json={"documents": bad})
        assert refused.status_code == 422 and refused.json()["detail"] == str(expected.value)
        skipped = c.post("/documents", json={"documents": bad, "skip_bad": True}).json()
        assert skipped["points_written"] == 1 and skipped["bad"] == [str(expected.value)]
        assert c.post("/documents", json={"documents": ["not an object"]}).status_code == 422
        assert c.delete("/documents/a").json() == {"id": "a", "points_deleted": 1}
        assert c.delete("/documents/a").status_code == 404
        assert c.get("/collections/fresh").json()["points"] == 2
        assert all(h["id"] != "a" for h in c.post("/search", json={"text": "wing flutter"}).json()["hits"])
