"""Property-based requests generated from the OpenAPI schema: the service never answers 5xx,
and its answers match the schema it publishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="the schema test needs schemathesis (dev extra)")

from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from splade_qdrant.service import create_app

from .conftest import LiveServer, make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, cranfield_corpus: list[dict[str, Any]]) -> Iterator[str]:
    import httpx

    store = tmp_path_factory.mktemp("schema-store")
    with LiveServer(create_app(make_settings(store, collection="cran", model=str(tiny_model_dir), max_limit=200))) as server:
        r = httpx.post(f"{server.url}/documents", json={"documents": cranfield_corpus[:30]}, timeout=300)
        assert r.status_code == 200, r.text
        yield server.url


# The schema the service publishes (building the app opens nothing; the live server serves the same one).
schema = schemathesis.openapi.from_dict(create_app(make_settings(Path("unused"), collection="cran")).openapi())


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_server_error(case: Any, live_url: str) -> None:
    case.call_and_validate(
        base_url=live_url,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance], timeout=120
    )
