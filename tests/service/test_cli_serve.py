"""``splade-qdrant serve`` as a real process: the command a container runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import COLLECTION

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_command_answers_searches(cran_store: Path) -> None:
    import httpx

    port = _free_port()
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "splade_qdrant", "serve", "--host", "127.0.0.1", "--port", str(port), "--collection", COLLECTION,
         "--store", str(cran_store), "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not answer /health"
            time.sleep(0.5)
        hits = httpx.post(f"{url}/search", json={"text": "slipstream", "limit": 3}, timeout=60).json()["hits"]
        assert len(hits) == 3
    finally:
        proc.terminate()
        out = proc.communicate(timeout=60)[0]
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Traceback" not in out, out
