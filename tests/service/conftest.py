"""Fixtures of the service tests: a real Edge store with part of Cranfield, the FastAPI app over
it, and a real uvicorn server on loopback."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Only checked here: FastAPI is imported by the fixtures and tests that build an app, so the fast
# tier (where every test of this directory but test_units.py is deselected) does not load it.
for _name in ("fastapi", "uvicorn"):
    if importlib.util.find_spec(_name) is None:
        pytest.skip("the service tests need the [serve] extra (fastapi, uvicorn)", allow_module_level=True)

from splade_qdrant.collection import SpladeQdrant
from splade_qdrant.service import ServiceSettings

from ..helpers import DOC_MAX_LENGTH, QUERY_MAX_LENGTH

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

COLLECTION = "cran"
#: Cranfield documents in the shared read-only store (enough to rank, quick to encode).
N_DOCS = 100


def make_settings(store: Path, **overrides: Any) -> ServiceSettings:
    return ServiceSettings(collection=overrides.pop("collection", COLLECTION), store=str(store), **overrides)


@pytest.fixture(scope="session")
def cran_store(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, cranfield_corpus: list[dict[str, Any]]) -> Path:
    """An Edge store holding the first N_DOCS Cranfield documents (text kept in the payload)."""
    path = tmp_path_factory.mktemp("serve-store")
    with SpladeQdrant(COLLECTION, store=path, model=str(tiny_model_dir), doc_max_length=DOC_MAX_LENGTH,
                      query_max_length=QUERY_MAX_LENGTH) as sq:
        sq.ingest(cranfield_corpus[:N_DOCS], store_text=True, show_progress=False)
    return path


@pytest.fixture(scope="module")
def client(cran_store: Path) -> Iterator[TestClient]:
    """The app over the Cranfield store, lifespan run (one per module: the store has one owner)."""
    from fastapi.testclient import TestClient

    from splade_qdrant.service import create_app

    with TestClient(create_app(make_settings(cran_store))) as c:
        yield c


class LiveServer:
    """A real uvicorn server on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> LiveServer:  # noqa: PYI034
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
