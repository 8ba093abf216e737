"""The CLI on what already exists (or does not): creation options given for an existing
collection, and ``list`` on a store directory that is not there.

Runs ``splade-qdrant`` in-process against the fake Qdrant of ``tests/fake_qdrant.py`` over real
HTTP on loopback and against the embedded store; nothing here loads a model (the collection is
checked before the encoders load).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from splade_qdrant.cli import main
from splade_qdrant.store import CollectionSpec, ServerOptions, open_store

from .fake_qdrant import FakeQdrant, serve

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection:UserWarning")


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "SPLADE_QDRANT_STORE", "SPLADE_QDRANT_RETRIES", "SPLADE_QDRANT_TIMEOUT",
                 "SPLADE_QDRANT_BACKOFF", "SPLADE_QDRANT_PREFER_GRPC", "SPLADE_QDRANT_CA_CERT", "SPLADE_QDRANT_TLS_VERIFY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def existing(tmp_path: Path) -> Iterator[tuple[FakeQdrant, str, list[str]]]:
    """A fake server holding collection ``c`` created with 6 shards, 2 replicas and a ``year``
    integer index, and the ingest command line for it (a corpus; a model path never loaded)."""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "a", "text": "lift of swept wings", "year": 1962}) + "\n", encoding="utf-8")
    fake = FakeQdrant()
    with serve(fake) as url:
        with open_store(url=url) as store:
            spec = CollectionSpec(server=ServerOptions(shards=6, replicas=2), payload_indexes={"year": "integer"})
            store.create_collection("c", spec)
        yield fake, url, ["ingest", str(corpus), "--url", url, "-c", "c", "--model", str(tmp_path / "never-loaded")]


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--shards", "2"], "collection 'c' was created with shards=6, not shards=2"),
        (["--replicas", "3", "--shards", "6"], "was created with replicas=2, not replicas=3"),
        (["--write-consistency", "2"], "write_consistency=1, not write_consistency=2"),
        (["--on-disk"], "on_disk_sparse=the server's default, not on_disk_sparse=True"),
        (["--index-field", "year:keyword"], "indexes payload field 'year' as integer, not keyword"),
    ],
)
def test_other_creation_options_for_an_existing_collection_are_refused(
    existing: tuple[FakeQdrant, str, list[str]], capsys: pytest.CaptureFixture[str], options: list[str], expected: str
) -> None:
    fake, _, argv = existing
    assert main([*argv, *options]) == 2
    line = one_line(capsys)
    assert expected in line and "new collection" in line
    assert fake.collections["c"].indexes == {"year": "integer"} and not fake.collections["c"].points


def test_an_existing_collection_gains_a_missing_index_with_its_own_options(
    existing: tuple[FakeQdrant, str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded values repeated are accepted; the new index is created before the encoders
    load (here: the model path does not exist, so the ingest itself then fails)."""
    fake, _, argv = existing
    assert main([*argv, "--shards", "6", "--replicas", "2", "--index-field", "year:integer", "--index-field", "lang"]) == 2
    assert "never-loaded" in one_line(capsys)
    assert fake.collections["c"].indexes == {"year": "integer", "lang": "keyword"}


def test_list_on_a_missing_store_directory_says_so_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no" / "store"
    assert main(["list", "--store", str(missing)]) == 0
    out = capsys.readouterr().out
    assert "no collections" in out and "does not exist" in out and str(missing) in out
    assert not (tmp_path / "no").exists()
    assert main(["list", "--store", str(missing), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [] and not (tmp_path / "no").exists()
