"""CLI options for servers and clusters: creation options, payload indexes, timeouts, retries, TLS.

Runs ``splade-qdrant ingest`` in-process on splade-tiny against the embedded store and against
the fake Qdrant of ``tests/fake_qdrant.py`` over real HTTP on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from splade_qdrant.cli import main
from splade_qdrant.store import open_store

from .fake_qdrant import FakeQdrant, serve

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection:UserWarning")

DOCS = [
    {"_id": "a", "text": "lift of swept wings", "year": 1962, "lang": "en"},
    {"_id": "b", "text": "shock waves in nozzles", "year": 1963, "lang": "fr"},
    {"_id": "c", "text": "boundary layer heat transfer", "year": 1963, "lang": "en"},
]


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "SPLADE_QDRANT_STORE", "SPLADE_QDRANT_RETRIES", "SPLADE_QDRANT_TIMEOUT",
                 "SPLADE_QDRANT_BACKOFF", "SPLADE_QDRANT_PREFER_GRPC", "SPLADE_QDRANT_CA_CERT", "SPLADE_QDRANT_TLS_VERIFY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    return path


@pytest.fixture
def model(tiny_model_dir: Path) -> list[str]:
    return ["--model", str(tiny_model_dir), "--doc-max-length", "64", "--long-docs", "truncate", "--no-progress"]


@pytest.fixture
def fake_url() -> Iterator[tuple[FakeQdrant, str]]:
    fake = FakeQdrant()
    with serve(fake) as url:
        yield fake, url


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.slow  # loads splade-tiny and ingests twice
def test_index_fields_on_the_embedded_store(tmp_path: Path, corpus: Path, model: list[str]) -> None:
    store = str(tmp_path / "s")
    argv = ["ingest", str(corpus), "--store", store, "-c", "c", *model]
    assert main([*argv, "--index-field", "year:integer", "--index-field", "lang"]) == 0
    assert main([*argv, "--index-field", "doc_id:keyword"]) == 0  # an existing collection gains the index
    with open_store(store) as s:
        assert dict(s.spec("c").payload_indexes) == {"year": "integer", "lang": "keyword", "doc_id": "keyword"}
        assert s.count("c") == len(DOCS)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--shards", "2"], "server options (shards) apply to Qdrant servers"),
        (["--on-disk"], "server options (on_disk_sparse, on_disk_payload)"),
        (["--index-field", "year:number"], "type must be one of keyword, integer"),
        (["--replicas", "0"], "replicas must be a whole number >= 1"),
    ],
)
def test_refused_options_are_one_line(
    tmp_path: Path, corpus: Path, model: list[str], capsys: pytest.CaptureFixture[str], options: list[str], expected: str
) -> None:
    assert main(["ingest", str(corpus), "--store", str(tmp_path / "s"), "-c", "c", *model, *options]) == 2
    assert expected in one_line(capsys)


@pytest.mark.slow  # loads splade-tiny and ingests
def test_cluster_options_reach_the_server(fake_url: tuple[FakeQdrant, str], corpus: Path, model: list[str]) -> None:
    fake, url = fake_url
    argv = [
        "ingest", str(corpus), "--url", url, "-c", "c", *model, "--shards", "6", "--replicas", "2",
        "--write-consistency", "2", "--on-disk", "--index-field", "year:integer", "--timeout", "5", "--retries", "2",
    ]
    assert main(argv) == 0
    params = fake.collections["c"].params
    assert (params["shard_number"], params["replication_factor"], params["write_consistency_factor"]) == (6, 2, 2)
    assert params["on_disk_payload"] is True and params["sparse_vectors"]["splade"]["index"]["on_disk"] is True
    assert fake.collections["c"].indexes == {"year": "integer"}
    assert len(fake.collections["c"].points) == len(DOCS)


def test_retries_option_bounds_the_tries(
    fake_url: tuple[FakeQdrant, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = fake_url
    monkeypatch.setenv("SPLADE_QDRANT_BACKOFF", "0.01")  # the environment sets what no option gives
    fake.fail("GET", r"/collections/c", 502)
    assert main(["info", "--url", url, "-c", "c", "--retries", "3"]) == 2
    line = one_line(capsys)
    assert "unreachable after 3 tries (HTTP 502" in line and url in line
    assert fake.count("GET", r"/collections/c") == 3


def test_wrong_api_key_is_one_line_naming_the_url(corpus: Path, model: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeQdrant(api_key="secret")
    with serve(fake) as url:
        assert main(["ingest", str(corpus), "--url", url, "--api-key", "nope", "-c", "c", *model]) == 2
    line = one_line(capsys)
    assert url in line and "refused the credentials" in line and "401" in line
    assert fake.count("GET", r"/collections/c/exists") == 1


def test_missing_ca_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--url", "https://127.0.0.1:9", "-c", "c", "--ca-cert", "/nonexistent/ca.pem"]) == 2
    assert "CA certificate file '/nonexistent/ca.pem' does not exist" in one_line(capsys)
