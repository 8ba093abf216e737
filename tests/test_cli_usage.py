"""The CLI as a new user meets it (issue 16): filters, recorded query settings, list/drop/delete,
a moved model, errors as one line with exit 2, and commands that never import torch.

Uses splade-tiny on a few Cranfield documents; subprocess tests are marked slow.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from splade_qdrant.cli import main

from .test_cli import assert_one_line_user_error, run_cli

N_DOCS = 12
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "SPLADE_QDRANT_STORE", "SPLADE_QDRANT_MODEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, cranfield_corpus: list[dict[str, Any]]) -> Path:
    path = tmp_path_factory.mktemp("usage-data") / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in cranfield_corpus[:N_DOCS]), encoding="utf-8")
    return path


def ingest_cli(corpus: Path, store: Path, model: Path, collection: str, *extra: str) -> None:
    code = main(["ingest", str(corpus), "-c", collection, "--store", str(store), "--model", str(model),
                 "--long-docs", "truncate", "--no-progress", *extra])
    assert code == 0


@pytest.fixture(scope="module")
def pruned_store(tmp_path_factory: pytest.TempPathFactory, corpus: Path, tiny_model_dir: Path) -> Path:
    """A collection ingested with --query-top-k 2 (recorded in its fingerprint)."""
    store = tmp_path_factory.mktemp("usage-store") / "store"
    ingest_cli(corpus, store, tiny_model_dir, "c", "--query-top-k", "2")
    return store


def search_json(capsys: pytest.CaptureFixture[str], store: Path, *argv: str) -> list[dict[str, Any]]:
    code, out, err = run_cli(capsys, "search", *argv, "-c", "c", "--store", str(store), "--json")
    assert code == 0, err
    return json.loads(out)


# --------------------------------------------------------------------------- 1: filters


def test_filter_doc_id_finds_the_document(capsys: pytest.CaptureFixture[str], pruned_store: Path) -> None:
    assert [h["id"] for h in search_json(capsys, pruned_store, "aerodynamic wing", "--filter", "doc_id=1")] == ["1"]
    hits = search_json(capsys, pruned_store, "aerodynamic wing", "--filter", "doc_id=1", "--filter", "doc_id=abc")
    assert [h["id"] for h in hits] == ["1"]
    hits = search_json(capsys, pruned_store, "aerodynamic wing", "--filter", 'doc_id:=[1, "abc"]')
    assert [h["id"] for h in hits] == ["1"]


def test_string_filter_on_a_number_finds_nothing_and_says_why(capsys: pytest.CaptureFixture[str], pruned_store: Path) -> None:
    code, out, err = run_cli(capsys, "search", "wing", "-c", "c", "--store", str(pruned_store), "--filter", "year=1960")
    assert code == 0 and "no hits" in out
    assert "year:=1960" in err and "Traceback" not in err


@pytest.mark.parametrize("bad", ["year:=1.5", "year:={\"a\": 1}", "year:=[]", "year:=nope", "=x", "novalue"])
def test_bad_filters_are_one_line_errors(capsys: pytest.CaptureFixture[str], pruned_store: Path, bad: str) -> None:
    code, _, err = run_cli(capsys, "search", "wing", "-c", "c", "--store", str(pruned_store), "--filter", bad)
    assert "--filter" in assert_one_line_user_error(code, err)


# --------------------------------------------------------------------------- 2: recorded query settings


def test_search_in_a_new_process_uses_the_recorded_query_top_k(capsys: pytest.CaptureFixture[str], pruned_store: Path) -> None:
    code, out, _ = run_cli(capsys, "info", "-c", "c", "--store", str(pruned_store), "--json")
    assert code == 0
    assert json.loads(out)["fingerprint"]["query"]["top_k"] == 2
    hits = search_json(capsys, pruned_store, "aerodynamic heat transfer of wings in supersonic flow", "--explain")
    assert hits and all(len(h["explanation"]) <= 2 for h in hits)
    assert search_json(capsys, pruned_store, "wing", "--query-top-k", "2")  # the recorded value: fine


@pytest.mark.parametrize(("option", "value"), [("--query-max-length", "32"), ("--query-top-k", "5"), ("--query-threshold", "0.5")])
def test_a_different_query_setting_is_refused(capsys: pytest.CaptureFixture[str], pruned_store: Path, option: str, value: str) -> None:
    code, _, err = run_cli(capsys, "search", "wing", "-c", "c", "--store", str(pruned_store), option, value)
    assert "recorded at ingestion" in assert_one_line_user_error(code, err)


# --------------------------------------------------------------------------- 7: list, drop, delete


@pytest.mark.slow
def test_list_delete_drop(capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus: Path, tiny_model_dir: Path) -> None:
    store = tmp_path / "store"
    code, out, _ = run_cli(capsys, "list", "--store", str(store))
    assert code == 0 and "no collections" in out
    ingest_cli(corpus, store, tiny_model_dir, "a")
    ingest_cli(corpus, store, tiny_model_dir, "b", "--long-docs", "chunk", "--doc-max-length", "32")
    code, out, _ = run_cli(capsys, "list", "--store", str(store), "--json")
    rows = {r["collection"]: r["points"] for r in json.loads(out)}
    assert rows["a"] == N_DOCS and rows["b"] > N_DOCS

    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("3\n\nnope\n", encoding="utf-8")
    code, out, _ = run_cli(capsys, "delete", "1", "2", "--ids-from", str(ids_file), "-c", "a", "--store", str(store), "--json")
    report = json.loads(out)
    assert (code, report["deleted"], report["not_found"]) == (0, 3, ["nope"])
    code, out, _ = run_cli(capsys, "delete", "1", "-c", "b", "--store", str(store))
    assert code == 0 and "1 of 1 documents deleted" in out
    code, out, _ = run_cli(capsys, "list", "--store", str(store), "--json")
    rows2 = {r["collection"]: r["points"] for r in json.loads(out)}
    assert rows2["a"] == N_DOCS - 3 and rows2["b"] < rows["b"]

    code, out, _ = run_cli(capsys, "drop", "-c", "b", "--store", str(store))
    assert code == 0 and "dropped collection 'b'" in out
    code, out, _ = run_cli(capsys, "list", "--store", str(store))
    assert "a " in out and "b " not in out
    code, _, err = run_cli(capsys, "drop", "-c", "b", "--store", str(store))
    assert "b" in assert_one_line_user_error(code, err)
    code, _, err = run_cli(capsys, "delete", "-c", "a", "--store", str(store))
    assert "ID... or --ids-from" in assert_one_line_user_error(code, err)
    code, _, err = run_cli(capsys, "delete", "--ids-from", str(tmp_path / "missing.txt"), "-c", "a", "--store", str(store))
    assert "missing.txt" in assert_one_line_user_error(code, err)


# --------------------------------------------------------------------------- 10: errors, not tracebacks


@pytest.mark.parametrize("argv", [
    ["--rrf-k", "-60", "--hybrid"],
    ["--limit", str(2**63)],
    ["--offset", str(2**63)],
    ["--limit", "0"],
    ["--weights", "0,0"],
    ["--weights", "nan,1"],
    ["--score-threshold", "nan"],
    ["--device", "gpu"],
])
def test_bad_search_arguments(capsys: pytest.CaptureFixture[str], pruned_store: Path, argv: list[str]) -> None:
    code, _, err = run_cli(capsys, "search", "wing", "-c", "c", "--store", str(pruned_store), *argv)
    assert_one_line_user_error(code, err)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a torch without CUDA")
def test_device_cuda_on_cpu_only_torch(capsys: pytest.CaptureFixture[str], pruned_store: Path, tmp_path: Path, corpus: Path,
                                       tiny_model_dir: Path) -> None:
    code, _, err = run_cli(capsys, "search", "wing", "-c", "c", "--store", str(pruned_store), "--device", "cuda")
    assert "--device cuda" in assert_one_line_user_error(code, err)
    code, _, err = run_cli(capsys, "ingest", str(corpus), "-c", "x", "--store", str(tmp_path / "s"), "--model", str(tiny_model_dir),
                           "--device", "cuda:1")
    assert "--device cuda:1" in assert_one_line_user_error(code, err)


def test_doc_max_length_above_the_model_is_refused_before_anything_exists(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus: Path, tiny_model_dir: Path
) -> None:
    store = tmp_path / "store"
    code, _, err = run_cli(capsys, "ingest", str(corpus), "-c", "x", "--store", str(store), "--model", str(tiny_model_dir),
                           "--doc-max-length", "2000")
    assert "exceeds the 512 positions" in assert_one_line_user_error(code, err)
    code, out, _ = run_cli(capsys, "list", "--store", str(store))
    assert "no collections" in out


# --------------------------------------------------------------------------- 8: a moved model


@pytest.mark.slow
def test_moved_model_ingests_and_searches_without_override(capsys: pytest.CaptureFixture[str], tmp_path: Path, corpus: Path,
                                                           tiny_model_dir: Path) -> None:
    store = tmp_path / "store"
    ingest_cli(corpus, store, tiny_model_dir, "m")
    moved = tmp_path / "elsewhere" / "my-splade"
    shutil.copytree(tiny_model_dir, moved)
    ingest_cli(corpus, store, moved, "m")  # the same model by content: accepted
    code, out, err = run_cli(capsys, "search", "wing", "-c", "m", "--store", str(store), "--model", str(moved), "--json")
    assert code == 0, err
    assert json.loads(out)
    # A different model (other weights) is still refused.
    other = tmp_path / "other-splade"
    shutil.copytree(tiny_model_dir, other)
    weights = other / "model.safetensors"
    weights.chmod(0o644)
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    code, _, err = run_cli(capsys, "search", "wing", "-c", "m", "--store", str(store), "--model", str(other))
    assert "was built for query encoder" in assert_one_line_user_error(code, err)


# --------------------------------------------------------------------------- 15: no torch for info, list, argument errors


def _in_subprocess(argv: list[str]) -> dict[str, Any]:
    code = (
        "import json, sys, contextlib, io\n"
        "from splade_qdrant.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):\n"
        "    try:\n"
        f"        rc = main({argv!r})\n"
        "    except SystemExit as e:\n"
        "        rc = e.code\n"
        "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules, 'out': out.getvalue()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("QDRANT_URL", "SPLADE_QDRANT_STORE")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_info_list_and_argument_errors_do_not_import_torch(pruned_store: Path) -> None:
    for argv, rc in [
        (["info", "-c", "c", "--store", str(pruned_store)], 0),
        (["list", "--store", str(pruned_store)], 0),
        (["search", "wing", "-c", "c", "--store", str(pruned_store), "--limit", "0"], 2),
        (["search", "wing", "-c", "c", "--store", str(pruned_store), "--filter", "x:=1.5"], 2),
        (["search", "wing", "-c", "nope", "--store", str(pruned_store), "--limit", "-3"], 2),
        (["search", "--bogus"], 2),
    ]:
        result = _in_subprocess(argv)
        assert result["rc"] == rc, result
        assert not result["torch"] and not result["transformers"], (argv, result)


@pytest.mark.slow
def test_user_errors_as_a_real_subprocess_are_one_line(pruned_store: Path) -> None:
    for argv in (["search", "wing", "--rrf-k", "-60"], ["search", "wing", "--limit", str(2**63)], ["search", "wing", "--weights", "nan,1"],
                 ["drop", "-c", "missing"], ["delete", "x", "-c", "missing"]):
        full = [sys.executable, "-m", "splade_qdrant", *argv]
        if "-c" not in argv:
            full += ["-c", "c"]
        full += ["--store", str(pruned_store)]
        proc = subprocess.run(full, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
