"""docker/: the compose files validate, the Dockerfile's commands run, the CLI commands exist.

No Docker engine runs here. Each compose file is checked three ways: against the Compose
specification's JSON schema (vendored by ``check-jsonschema``), by Debian's ``docker-compose
config -q`` (which also resolves references: ``depends_on`` services, named volumes), and by
reading what it must say (pinned Qdrant image, a 3-node cluster with one bootstrap node, the
CLI commands parse with the project's own parser). The negative tests show each validator
rejects a broken file. ``test_dockerfile_runs_in_a_clean_venv`` (slow) runs every RUN line of
the Dockerfile in a fresh virtual environment through ``docker/check_dockerfile.py``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
COMPOSE_FILES = ["compose.yaml", "compose.cluster.yaml"]
QDRANT_IMAGE = re.compile(r"^qdrant/qdrant:v\d+\.\d+\.\d+$")


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((DOCKER / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    check_jsonschema = pytest.importorskip("check_jsonschema")
    path = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _schema_errors(schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def _docker_compose(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's docker-compose)")
    return subprocess.run([exe, "-f", str(path), "config", "-q"], capture_output=True, text=True, timeout=60, cwd=path.parent)


def _cli_command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return command if isinstance(command, list) else command.split()


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_matches_the_compose_specification(name: str, compose_schema: dict[str, Any]) -> None:
    assert _schema_errors(compose_schema, _load(name)) == []


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_docker_compose_config_accepts_the_file(name: str) -> None:
    proc = _docker_compose(DOCKER / name)
    assert proc.returncode == 0, proc.stderr


def test_the_validators_reject_broken_files(compose_schema: dict[str, Any], tmp_path: Path) -> None:
    doc = _load("compose.yaml")
    typo = copy.deepcopy(doc)
    typo["services"]["qdrant"]["helthcheck"] = typo["services"]["qdrant"].pop("healthcheck")
    assert any("helthcheck" in e for e in _schema_errors(compose_schema, typo))
    dangling = copy.deepcopy(doc)
    dangling["services"]["app"]["depends_on"]["indexer"] = {"condition": "service_healthy"}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(dangling), encoding="utf-8")
    proc = _docker_compose(path)
    assert proc.returncode != 0 and "indexer" in proc.stderr


def test_compose_pins_qdrant_and_runs_ingest_before_the_service() -> None:
    services = _load("compose.yaml")["services"]
    assert QDRANT_IMAGE.match(services["qdrant"]["image"])
    assert services["ingest"]["depends_on"]["qdrant"]["condition"] == "service_healthy"
    assert services["app"]["depends_on"]["ingest"]["condition"] == "service_completed_successfully"
    assert _cli_command(services["app"]) == [
        "serve", "--host", "0.0.0.0", "--port", "8000", "--collection", "docs", "--url", "http://qdrant:6333"
    ]
    ingest = _cli_command(services["ingest"])
    assert ingest[0] == "ingest" and "http://qdrant:6333" in ingest
    # models are mounted read-only, never baked into the image
    assert any(v.endswith(":/models/splade:ro") for v in services["ingest"]["volumes"])


def test_cluster_has_three_nodes_one_bootstrap_and_a_sharded_replicated_collection() -> None:
    services = _load("compose.cluster.yaml")["services"]
    nodes = {name: s for name, s in services.items() if str(s.get("image", "")).startswith("qdrant/qdrant")}
    assert len(nodes) == 3
    bootstrap = [name for name, s in nodes.items() if "--bootstrap" not in _cli_command(s)]
    assert len(bootstrap) == 1
    first = bootstrap[0]
    for name, node in nodes.items():
        assert QDRANT_IMAGE.match(node["image"])
        assert node["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        assert node["environment"]["QDRANT__CLUSTER__P2P__PORT"] == "6335"
        command = _cli_command(node)
        assert command[command.index("--uri") + 1] == f"http://{name}:6335"
        if name != first:
            assert command[command.index("--bootstrap") + 1] == f"http://{first}:6335"
            assert node["depends_on"][first]["condition"] == "service_healthy"
    job = _cli_command(services["create-collection"])
    assert job[job.index("--shards") + 1] == "6" and job[job.index("--replicas") + 1] == "2"
    assert set(services["create-collection"]["depends_on"]) == set(nodes)


def _subcommands() -> set[str]:
    from splade_qdrant.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return set(sub.choices)


def _options(command: str) -> set[str]:
    from splade_qdrant.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {o for action in sub.choices[command]._actions for o in action.option_strings}


@pytest.mark.parametrize(("name", "service"), [("compose.yaml", "ingest"), ("compose.yaml", "app"), ("compose.cluster.yaml", "create-collection")])
def test_compose_commands_parse_with_the_cli(name: str, service: str) -> None:
    from splade_qdrant.cli import build_parser

    command = _cli_command(_load(name)["services"][service])
    if command[0] not in _subcommands():
        pytest.skip(f"the {command[0]!r} subcommand is not in this tree yet")
    if "--shards" in command and "--shards" not in _options(command[0]):
        pytest.skip("ingest --shards/--replicas (server creation options) are not in this tree yet")
    args = build_parser().parse_args(command)  # exits 2 on an unknown option
    assert args.command == command[0]


def _dockerfile() -> Any:
    spec = importlib.util.spec_from_file_location("check_dockerfile", DOCKER / "check_dockerfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_dockerfile", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_dockerfile_pins_cpu_torch_and_bakes_no_model() -> None:
    check = _dockerfile()
    instructions = check.parse((DOCKER / "Dockerfile").read_text(encoding="utf-8"))
    runs = [i.args for i in instructions if i.keyword == "RUN"]
    args = {i.args.split("=", 1)[0]: i.args.split("=", 1)[1] for i in instructions if i.keyword == "ARG"}
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert any("torch==2.13.0" in r and '--index-url "$TORCH_INDEX_URL"' in r for r in runs)
    assert not any(re.search(r"from_pretrained|snapshot_download|huggingface-cli|hf download|git lfs", r) for r in runs)
    for ins in instructions:
        if ins.keyword == "COPY":
            for src in ins.args.split()[:-1]:
                assert (REPO / src).exists(), f"COPY {src}: not in the build context"


def test_dockerfile_parser_joins_continuations() -> None:
    check = _dockerfile()
    parsed = check.parse("FROM a\n# note\nRUN one \\\n    # inside\n    && two\nENV A=1 B=2\n")
    assert [(i.keyword, i.args) for i in parsed] == [("FROM", "a"), ("RUN", "one && two"), ("ENV", "A=1 B=2")]


@pytest.mark.slow
def test_dockerfile_runs_in_a_clean_venv() -> None:
    # The PyTorch CPU index cannot be reached from these machines: stand in an index that does not
    # exist, so pip takes the CPU wheel from the machine's configured local wheels without trying the
    # network (the RUN line itself still runs verbatim, with the build argument a user would pass).
    proc = subprocess.run(
        [sys.executable, str(DOCKER / "check_dockerfile.py"), "--build-arg", "TORCH_INDEX_URL=file:///nonexistent/simple"],
        capture_output=True, text=True, timeout=1800, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "every RUN command succeeded" in proc.stdout
