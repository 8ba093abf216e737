"""The server path over real HTTP on loopback, against a fake Qdrant (``tests/fake_qdrant.py``).

What qdrant-client's local mode cannot show: authentication failures, 404s, transient
failures retried with exponential backoff then reported, timeouts, TLS, and an ingest that
fails half-way and resumes. The requests the fake received are counted, never timed.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from splade_qdrant.encoder import SpladeEncoder
from splade_qdrant.errors import (
    CollectionNotFoundError,
    ConfigError,
    StoreAuthError,
    StoreError,
    StoreUnavailableError,
)
from splade_qdrant.pair import EncoderPair
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store import (
    CollectionSpec,
    PointRecord,
    ServerConnection,
    ServerOptions,
    SparseQuery,
    open_store,
)
from splade_qdrant.store.base import Store
from splade_qdrant.store.connection import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S

from .fake_qdrant import FakeQdrant, serve

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection:UserWarning")
COUNT = r"/collections/c/points/count"


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "SPLADE_QDRANT_PREFER_GRPC", "SPLADE_QDRANT_CA_CERT", "SPLADE_QDRANT_TLS_VERIFY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> FakeQdrant:
    return FakeQdrant()


@pytest.fixture
def url(fake: FakeQdrant) -> Iterator[str]:
    with serve(fake) as address:
        yield address


def server_store(url: str, **options: Any) -> Store:
    settings: dict[str, Any] = {"retries": 3, "backoff_s": 0.01, "timeout_s": 5.0}
    settings.update(options)
    return open_store(url=url, **settings)


def point(i: int) -> PointRecord:
    return PointRecord(str(uuid.uuid5(uuid.NAMESPACE_URL, f"p{i}")), SparseVector.from_dict({i: 1.0, 999: 0.5}), {"doc_id": f"d{i}"})


# ---------------------------------------------------------------- the shapes round-trip


def test_collection_round_trip_over_http(fake: FakeQdrant, url: str) -> None:
    store = server_store(url)
    options = ServerOptions(shards=6, replicas=2, write_consistency=1, on_disk_sparse=True, on_disk_payload=True)
    store.create_collection("c", CollectionSpec(metadata={"fp": 1}, payload_indexes={"year": "integer"}, server=options))
    body = fake.collections["c"].params
    assert (body["shard_number"], body["replication_factor"], body["write_consistency_factor"]) == (6, 2, 1)
    assert body["sparse_vectors"]["splade"]["index"]["on_disk"] is True
    spec = store.spec("c")
    assert spec.server == options and dict(spec.payload_indexes) == {"year": "integer"} and spec.metadata == {"fp": 1}
    store.upsert("c", [point(i) for i in range(7)])
    assert store.count("c") == 7
    (got,) = store.retrieve("c", [point(3).id], with_vectors=True)
    assert got.sparse == point(3).sparse and got.payload == {"doc_id": "d3"}
    ids, offset = [], None
    while True:
        page, offset = store.scroll("c", limit=3, offset=offset)
        ids += [p.id for p in page]
        if offset is None:
            break
    assert ids == sorted((point(i).id for i in range(7)), key=uuid.UUID)
    hits = store.query("c", SparseQuery(SparseVector.from_dict({3: 2.0}), "splade"), limit=2)
    assert [(h.payload["doc_id"], h.score) for h in hits] == [("d3", 2.0)]
    store.delete_collection("c")
    assert store.list_collections() == []


def test_upsert_reads_the_collection_spec_once(fake: FakeQdrant, url: str) -> None:
    store = server_store(url)
    store.create_collection("c", CollectionSpec())
    for i in range(5):
        store.upsert("c", [point(i)])
    assert fake.count("PUT", r"/collections/c/points") == 5
    assert fake.count("GET", r"/collections/c") == 1
    store.delete_collection("c")  # the cache is dropped with the collection
    store.create_collection("c", CollectionSpec())
    store.upsert("c", [point(0)])
    assert fake.count("GET", r"/collections/c") == 2


# ---------------------------------------------------------------- permanent failures: never retried


def test_wrong_api_key_is_an_authentication_error_naming_the_url(url: str) -> None:
    fake_key = FakeQdrant(api_key="right")
    with serve(fake_key) as secured:
        with pytest.raises(StoreAuthError) as info:
            server_store(secured, api_key="wrong").list_collections()
        assert secured in str(info.value) and "401" in str(info.value) and "--api-key" in str(info.value)
        assert isinstance(info.value, StoreError)
        assert fake_key.count("GET", "/collections") == 1  # not retried
        assert server_store(secured, api_key="right").list_collections() == []


def test_forbidden_is_an_authentication_error(fake: FakeQdrant, url: str) -> None:
    fake.fail("PUT", r"/collections/c", 403, body={"status": {"error": "Forbidden: read-only key"}, "time": 0.0})
    with pytest.raises(StoreAuthError, match="403.*read-only key") as info:
        server_store(url).create_collection("c", CollectionSpec())
    assert url in str(info.value)
    assert fake.count("PUT", r"/collections/c") == 1


def test_missing_collection_is_collection_not_found(fake: FakeQdrant, url: str) -> None:
    store = server_store(url)
    for call in (lambda: store.count("c"), lambda: store.spec("c"), lambda: store.upsert("c", [point(1)])):
        with pytest.raises(CollectionNotFoundError, match="collection 'c' does not exist"):
            call()
    assert fake.count("POST", COUNT) == 1 and fake.count("GET", r"/collections/c") == 2  # spec, then upsert's spec


def test_bad_request_is_a_store_error_with_the_servers_reason(fake: FakeQdrant, url: str) -> None:
    store = server_store(url)
    store.create_collection("c", CollectionSpec())
    fake.fail("POST", COUNT, 400, body={"status": {"error": "Wrong input: bad count"}, "time": 0.0})
    with pytest.raises(StoreError, match="HTTP 400.*bad count") as info:
        store.count("c")
    assert not isinstance(info.value, StoreUnavailableError)
    assert fake.count("POST", COUNT) == 1


# ---------------------------------------------------------------- transient failures: retried with backoff


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_status_is_retried_then_reported(fake: FakeQdrant, url: str, status: int) -> None:
    store = server_store(url, retries=3)
    store.create_collection("c", CollectionSpec())
    fake.fail("POST", COUNT, status)
    with pytest.raises(StoreUnavailableError) as info:
        store.count("c")
    assert fake.count("POST", COUNT) == 3
    message = str(info.value)
    assert f"HTTP {status}" in message and "after 3 tries" in message and url in message


@pytest.mark.parametrize("status", [429, 503])
def test_transient_status_then_success(fake: FakeQdrant, url: str, status: int) -> None:
    store = server_store(url, retries=4)
    store.create_collection("c", CollectionSpec())
    store.upsert("c", [point(1)])
    fake.fail("POST", COUNT, status, times=2)
    assert store.count("c") == 1
    assert fake.count("POST", COUNT) == 3


def test_retry_after_header_is_a_transient_429(fake: FakeQdrant, url: str) -> None:
    store = server_store(url)
    store.create_collection("c", CollectionSpec())
    fake.fail("POST", COUNT, 429, times=1, headers={"Retry-After": "0"})
    assert store.count("c") == 0
    assert fake.count("POST", COUNT) == 2


def test_backoff_doubles(fake: FakeQdrant, url: str, caplog: pytest.LogCaptureFixture) -> None:
    store = server_store(url, retries=4, backoff_s=0.01)
    store.create_collection("c", CollectionSpec())
    fake.fail("POST", COUNT, 503)
    with caplog.at_level(logging.INFO, logger="splade_qdrant.store.remote"), pytest.raises(StoreUnavailableError):
        store.count("c")
    waits = [r.args[-1] for r in caplog.records if r.name == "splade_qdrant.store.remote"]
    assert waits == pytest.approx([0.01, 0.02, 0.04])
    assert fake.count("POST", COUNT) == 4


@pytest.mark.slow  # waits out two client timeouts against a stalled answer (~2 s of sleeping by design)
def test_timeout_is_retried_then_reported(fake: FakeQdrant, url: str) -> None:
    store = server_store(url, retries=2, timeout_s=1.0)
    store.create_collection("c", CollectionSpec())
    fake.fail("POST", COUNT, 200, stall_s=2.5, body={"result": {"count": 0}, "status": "ok", "time": 0.0})
    with pytest.raises(StoreUnavailableError, match="timed out") as info:
        store.count("c")
    assert "after 2 tries" in str(info.value)
    assert fake.count("POST", COUNT) == 2


def test_grpc_unreachable_is_retried_then_reported() -> None:
    store = open_store(url="http://127.0.0.1:9", prefer_grpc=True, retries=2, backoff_s=0.01, timeout_s=2.0)
    with pytest.raises(StoreUnavailableError, match=r"after 2 tries \(gRPC UNAVAILABLE"):
        store.list_collections()


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


def test_tls_with_a_private_ca(fake: FakeQdrant, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with serve(fake, ssl_context=context) as secure:
        assert secure.startswith("https://")
        with pytest.raises(StoreUnavailableError, match="TLS handshake.*--ca-cert"):
            server_store(secure).list_collections()
        assert server_store(secure, ca_cert=str(cert)).list_collections() == []
        assert server_store(secure, verify=False).list_collections() == []
    assert fake.count("GET", "/collections") == 2  # the refused handshake never reached HTTP


# ---------------------------------------------------------------- settings: argument > environment > default


def test_connection_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"QDRANT_URL": "http://env:6333", "QDRANT_API_KEY": "env-key", "SPLADE_QDRANT_TIMEOUT": "7",
           "SPLADE_QDRANT_RETRIES": "9", "SPLADE_QDRANT_PREFER_GRPC": "yes", "SPLADE_QDRANT_TLS_VERIFY": "0"}
    from_env = ServerConnection.resolve(environ=env)
    assert (from_env.url, from_env.api_key, from_env.timeout_s, from_env.retries, from_env.prefer_grpc, from_env.verify) == (
        "http://env:6333", "env-key", 7.0, 9, True, False)
    argued = ServerConnection.resolve(url="https://arg", api_key="k", timeout_s=3, retries=2, prefer_grpc=False, verify=True, environ=env)
    assert (argued.url, argued.api_key, argued.timeout_s, argued.retries, argued.prefer_grpc, argued.verify) == (
        "https://arg", "k", 3, 2, False, True)
    default = ServerConnection.resolve(url="http://h", environ={})
    assert (default.timeout_s, default.retries, default.api_key, default.tls) == (DEFAULT_TIMEOUT_S, DEFAULT_RETRIES, None, False)
    with pytest.raises(ConfigError, match="SPLADE_QDRANT_RETRIES"):
        ServerConnection.resolve(url="http://h", environ={"SPLADE_QDRANT_RETRIES": "many"})
    with pytest.raises(ConfigError, match="no server URL"):
        ServerConnection.resolve(environ={})
    with pytest.raises(ConfigError, match="CA certificate"):
        ServerConnection.resolve(url="https://h", ca_cert="/nonexistent.pem", environ={})
    monkeypatch.setenv("SPLADE_QDRANT_RETRIES", "2")
    assert open_store(url="http://127.0.0.1:9").retries == 2  # type: ignore[attr-defined]


# ---------------------------------------------------------------- a failure mid-ingest, then a rerun


@pytest.fixture(scope="module")
def pair(tiny_mlm: Any) -> EncoderPair:
    return EncoderPair(SpladeEncoder(tiny_mlm, max_length=16), SpladeEncoder(tiny_mlm, max_length=8))


WORDS = ["wing", "lift", "shock", "nozzle", "flow", "heat", "boundary", "layer", "drag", "pressure"]
DOCS = [{"_id": f"doc-{i}", "text": " ".join(WORDS[(i + k) % len(WORDS)] for k in range(1 + i % 5))} for i in range(40)]


def test_ingest_fails_mid_way_then_the_rerun_completes_exactly_once(fake: FakeQdrant, url: str, pair: EncoderPair) -> None:
    from splade_qdrant.ingest import ingest

    store = server_store(url, retries=2)
    fake.fail("PUT", r"/collections/c/points", 503, after=2)  # two batches land, then the server fails for good
    with pytest.raises(StoreUnavailableError, match="after 2 tries"):
        ingest(store, "c", DOCS, pair=pair, upsert_batch=8, chunk_size=8, show_progress=False)
    landed = len(fake.collections["c"].points)
    assert 0 < landed < len(DOCS)

    fake.rules.clear()  # the server recovers
    before = fake.upserted
    report = ingest(server_store(url), "c", DOCS, pair=pair, upsert_batch=8, chunk_size=8, show_progress=False)
    assert report.points_in_collection == len(DOCS)
    assert report.skipped_unchanged == landed  # resumed: what landed is not written again
    assert fake.upserted - before == len(DOCS) - landed
    per_doc = Counter(p["payload"]["doc_id"] for p in fake.collections["c"].points.values())
    assert per_doc == Counter(d["_id"] for d in DOCS)  # every document exactly once


def test_grpc_with_a_private_ca_builds_a_secure_channel(tls_files: tuple[Path, Path]) -> None:
    cert, _ = tls_files
    store = open_store(url="https://127.0.0.1:9", prefer_grpc=True, ca_cert=str(cert), retries=1, timeout_s=2.0)
    with pytest.raises(StoreUnavailableError, match=r"after 1 try \(gRPC UNAVAILABLE"):
        store.list_collections()
