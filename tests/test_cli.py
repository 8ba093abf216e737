"""The command line, in-process through ``splade_qdrant.cli.main`` and as a real subprocess.

User mistakes must exit 2 with exactly one line on stderr and no traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import splade_qdrant
from splade_qdrant.cli import main

N_SMALL = 30
COLLECTION = "small"
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "SPLADE_QDRANT_STORE", "SPLADE_QDRANT_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory, cranfield_corpus: list[dict[str, Any]]) -> Path:
    path = tmp_path_factory.mktemp("cli-data") / "small.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for doc in cranfield_corpus[:N_SMALL]:
            fh.write(json.dumps(doc) + "\n")
    return path


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory, small_corpus: Path, tiny_model_dir: Path) -> tuple[Path, dict[str, Any]]:
    """30 Cranfield documents ingested through the CLI; returns the store dir and the JSON report."""
    store = tmp_path_factory.mktemp("cli-store") / "store"
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([
            "ingest", str(small_corpus), "--collection", COLLECTION, "--store", str(store),
            "--model", str(tiny_model_dir), "--doc-max-length", "256", "--query-max-length", "64",
            "--long-docs", "truncate", "--no-progress", "--json",
        ])
    assert code == 0, err.getvalue()
    return store, json.loads(out.getvalue())


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_user_error(code: int, err: str) -> str:
    assert code == 2, err
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- happy paths


def test_ingest_report(small_store: tuple[Path, dict[str, Any]]) -> None:
    _, report = small_store
    assert report["collection"] == COLLECTION
    assert report["documents"] == N_SMALL
    assert report["points_written"] == N_SMALL
    assert report["points_in_collection"] == N_SMALL
    assert report["bad"] == []


def test_info_json(capsys: pytest.CaptureFixture[str], small_store: tuple[Path, dict[str, Any]], tiny_model_dir: Path) -> None:
    store, _ = small_store
    code, out, err = run_cli(capsys, "info", "--collection", COLLECTION, "--store", str(store), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["points"] == N_SMALL
    fp = info["fingerprint"]
    assert fp["document"]["model"] == str(tiny_model_dir.resolve())
    assert fp["document"]["max_length"] == 256 and fp["query"]["max_length"] == 64
    assert info["collection"] == COLLECTION


def test_info_text(capsys: pytest.CaptureFixture[str], small_store: tuple[Path, dict[str, Any]]) -> None:
    store, _ = small_store
    code, out, err = run_cli(capsys, "info", "-c", COLLECTION, "--store", str(store))
    assert code == 0, err
    assert f"points:          {N_SMALL}" in out


def test_search_json(capsys: pytest.CaptureFixture[str], small_store: tuple[Path, dict[str, Any]],
                     cranfield_corpus: list[dict[str, Any]]) -> None:
    store, _ = small_store
    code, out, err = run_cli(
        capsys, "search", "experimental investigation of the aerodynamics of a wing in a slipstream",
        "-c", COLLECTION, "--store", str(store), "--limit", "5", "--json",
    )
    assert code == 0, err
    hits = json.loads(out)
    assert isinstance(hits, list) and len(hits) == 5
    for h in hits:
        assert {"id", "score", "payload"} <= set(h)
        assert isinstance(h["score"], float)
        assert h["payload"]["doc_id"] == h["id"]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    small_ids = {d["_id"] for d in cranfield_corpus[:N_SMALL]}
    assert {h["id"] for h in hits} <= small_ids
    assert hits[0]["id"] == "1"  # the query is document 1's title


def test_search_text_output_and_filter(capsys: pytest.CaptureFixture[str], small_store: tuple[Path, dict[str, Any]]) -> None:
    store, _ = small_store
    code, out, err = run_cli(
        capsys, "search", "wing slipstream", "-c", COLLECTION, "--store", str(store), "--limit", "3",
        "--filter", "doc_id=2", "--filter", 'doc_id:="3"', "--json",
    )
    assert code == 0, err
    assert {h["id"] for h in json.loads(out)} == {"2", "3"}
    code, out, err = run_cli(capsys, "search", "wing slipstream", "-c", COLLECTION, "--store", str(store), "--limit", "3")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3 and lines[0].split()[0] == "1"


def test_reingest_skips_unchanged(capsys: pytest.CaptureFixture[str], small_store: tuple[Path, dict[str, Any]],
                                  small_corpus: Path, tiny_model_dir: Path) -> None:
    store, _ = small_store
    code, out, err = run_cli(
        capsys, "ingest", str(small_corpus), "-c", COLLECTION, "--store", str(store), "--model", str(tiny_model_dir),
        "--long-docs", "truncate", "--no-progress", "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["points_written"] == 0 and report["skipped_unchanged"] == N_SMALL


# --------------------------------------------------------------------------- user mistakes


def test_missing_model_dir(capsys: pytest.CaptureFixture[str], small_corpus: Path, tmp_path: Path) -> None:
    code, out, err = run_cli(
        capsys, "ingest", str(small_corpus), "-c", "x", "--store", str(tmp_path / "s"),
        "--model", str(tmp_path / "no-such-model"), "--no-progress",
    )
    line = assert_one_line_user_error(code, err)
    assert "local directory" in line and "no-such-model" in line


def test_missing_collection(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "info", "-c", "nope", "--store", str(tmp_path / "empty"))
    line = assert_one_line_user_error(code, err)
    assert "'nope'" in line and "does not exist" in line


def test_search_missing_collection(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_model_dir: Path) -> None:
    code, _, err = run_cli(capsys, "search", "wing", "-c", "nope", "--store", str(tmp_path / "empty"),
                           "--model", str(tiny_model_dir))
    line = assert_one_line_user_error(code, err)
    assert "'nope'" in line


def test_malformed_jsonl_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_model_dir: Path,
                              cranfield_corpus: list[dict[str, Any]]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(cranfield_corpus[0]) + "\n" + '{"_id": "2", "text": oops}\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "ingest", str(bad), "-c", "x", "--store", str(tmp_path / "s"),
                           "--model", str(tiny_model_dir), "--no-progress")
    line = assert_one_line_user_error(code, err)
    assert "bad.jsonl:2" in line and "malformed JSON" in line


def test_skip_bad_reports_and_continues(capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_model_dir: Path) -> None:
    bad = tmp_path / "mixed.jsonl"
    bad.write_text('{"_id": "a", "text": "wing"}\n{"_id": "b", "text": oops}\n{"_id": "c", "text": "flow"}\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "ingest", str(bad), "-c", "x", "--store", str(tmp_path / "s"),
                             "--model", str(tiny_model_dir), "--no-progress", "--skip-bad", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["points_written"] == 2
    assert len(report["bad"]) == 1 and "mixed.jsonl:2" in report["bad"][0]


def test_store_and_url_together(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "info", "-c", "x", "--store", str(tmp_path), "--url", "http://localhost:6333")
    assert code == 2
    assert "not allowed with argument" in err
    assert "Traceback" not in err


def test_bad_filter_syntax(capsys: pytest.CaptureFixture[str], small_store: tuple[Path, dict[str, Any]]) -> None:
    store, _ = small_store
    code, _, err = run_cli(capsys, "search", "wing", "-c", COLLECTION, "--store", str(store), "--filter", "no-equals-sign")
    line = assert_one_line_user_error(code, err)
    assert "KEY=STRING or KEY:=JSON" in line


# --------------------------------------------------------------------------- real subprocess


def _subprocess(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QDRANT_URL", "SPLADE_QDRANT_STORE", "SPLADE_QDRANT_MODEL")}
    return subprocess.run([sys.executable, "-m", "splade_qdrant", *argv], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=300)


@pytest.mark.slow  # real subprocess
def test_version_subprocess() -> None:
    run = _subprocess("--version")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"splade-qdrant {splade_qdrant.__version__}"


@pytest.mark.slow  # real subprocess
def test_user_error_subprocess_has_no_traceback(tmp_path: Path) -> None:
    run = _subprocess("info", "-c", "nope", "--store", str(tmp_path / "empty"))
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("splade-qdrant info: error: ")

