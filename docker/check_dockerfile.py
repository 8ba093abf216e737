"""Run every ``RUN`` command of ``docker/Dockerfile`` in a clean virtual environment, here.

No Docker engine is needed: the script reads the Dockerfile, applies its ``ARG`` defaults
and ``ENV`` values, copies what ``COPY`` copies from the build context (the repository root)
into a scratch ``WORKDIR``, and executes each ``RUN`` line verbatim with ``bash -c`` and the
clean venv's ``bin/`` first on ``PATH`` (so ``pip`` and ``python`` are the venv's). Absolute
paths in ``ENV`` values (``/data``, ``/models/hf``) are re-rooted under the scratch directory,
so nothing outside it is touched. The base image's Python is replaced by this machine's
``python3``; the script says so when their versions differ.

Usage::

    python docker/check_dockerfile.py [--keep] [--build-arg NAME=VALUE ...]

Exit status 0 when every RUN command succeeded; it prints one line per command with its exit
status and seconds, and writes nothing outside a temporary directory (removed unless --keep).
``tests/test_docker.py::test_dockerfile_runs_in_a_clean_venv`` (slow) runs it.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "docker" / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: keyword (upper case) and its argument text."""

    keyword: str
    args: str
    line: int


def parse(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile, with continuation lines joined and comments dropped.

    >>> [(i.keyword, i.args) for i in parse("FROM x\\n# c\\nRUN a \\\\\\n  && b\\n")]
    [('FROM', 'x'), ('RUN', 'a && b')]
    """
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment inside a continued instruction
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].strip())
            continue
        buf.append(stripped)
        joined = " ".join(part for part in buf if part)
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = []
    return out


def _env_pairs(args: str) -> list[tuple[str, str]]:
    """``ENV A=1 B="x y"`` → [("A", "1"), ("B", "x y")]; also the legacy ``ENV A 1`` form."""
    tokens = shlex.split(args)
    if tokens and "=" not in tokens[0]:
        return [(tokens[0], " ".join(tokens[1:]))]
    return [tuple(t.split("=", 1)) for t in tokens]  # type: ignore[misc]


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), value)


def check(dockerfile: Path = DOCKERFILE, *, context: Path = REPO, build_args: dict[str, str] | None = None, keep: bool = False) -> int:
    """Run the Dockerfile's RUN commands in a clean venv; return the number that failed."""
    instructions = parse(dockerfile.read_text(encoding="utf-8"))
    scratch = Path(tempfile.mkdtemp(prefix="dockerfile-check-"))
    root = scratch / "root"
    venv = scratch / "venv"
    print(f"scratch directory: {scratch}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # from a venv too: based on its base Python
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    build_args = dict(build_args or {})
    workdir = root
    failed = 0
    try:
        for ins in instructions:
            if ins.keyword == "FROM":
                print(f"FROM {ins.args}: using this machine's {sys.version.split()[0]} in a clean venv instead")
            elif ins.keyword == "ARG":
                name, _, default = ins.args.partition("=")
                env[name] = build_args.get(name, default)
            elif ins.keyword == "ENV":
                for key, value in _env_pairs(ins.args):
                    value = _expand(value, env)
                    env[key] = str(root / value.lstrip("/")) if value.startswith("/") else value
            elif ins.keyword == "WORKDIR":
                workdir = root / _expand(ins.args, env).lstrip("/")
                workdir.mkdir(parents=True, exist_ok=True)
            elif ins.keyword == "COPY":
                *sources, dest = shlex.split(ins.args)
                target = workdir / dest if not dest.startswith("/") else root / dest.lstrip("/")
                for src in sources:
                    path = context / src
                    if not path.exists():
                        print(f"line {ins.line}: COPY source {src} is missing from the build context")
                        failed += 1
                    elif path.is_dir():  # like Docker: the directory's contents go into dest
                        shutil.copytree(path, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
                    elif dest.endswith("/"):
                        target.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, target / path.name)
                    else:
                        shutil.copy2(path, target)
            elif ins.keyword == "RUN":
                command = ins.args
                if command.startswith("["):
                    print(f"line {ins.line}: exec-form RUN is not supported by this check")
                    failed += 1
                    continue
                t0 = time.perf_counter()
                proc = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - t0
                status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"
                print(f"line {ins.line}: RUN {command}\n    -> {status} in {seconds:.1f} s")
                if proc.returncode != 0:
                    failed += 1
                    print((proc.stdout + proc.stderr)[-4000:])
        return failed
    finally:
        if keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", type=Path, default=DOCKERFILE)
    parser.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    build_args = dict(item.split("=", 1) for item in args.build_arg)
    failed = check(args.dockerfile, build_args=build_args, keep=args.keep)
    print("every RUN command succeeded" if not failed else f"{failed} command(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
