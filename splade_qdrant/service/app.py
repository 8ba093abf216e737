"""The FastAPI application: ``create_app(settings)``; its lifespan owns one SpladeQdrant.

Endpoints (OpenAPI at ``/openapi.json``, interactive docs at ``/docs``)::

    POST   /search              one query  -> {"hits": [...]} (hits as `search --json` prints them)
    POST   /search/batch        queries    -> {"results": [{"hits": [...]}, ...]}
    POST   /documents           ingest JSON documents (same validation and ids as the CLI)
    DELETE /documents/{doc_id}  delete one document
    GET    /collections/{name}  point count and encoder fingerprint
    GET    /health              liveness and settings (never needs the client key)
    GET    /metrics             Prometheus text
    POST   /embed_sparse        Text Embeddings Inference's sparse embedding shapes
    GET    /                    the search page

Errors are translated by type at one place (:data:`ERROR_STATUS`), each answered as
``{"detail": message}``.

Example:
    >>> from fastapi.testclient import TestClient  # doctest: +SKIP
    >>> with TestClient(create_app(ServiceSettings(collection="cran", store="./data"))) as client:  # doctest: +SKIP
    ...     client.post("/search", json={"text": "wing flutter", "limit": 3}).json()["hits"][0]["id"]
    '1'
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from .._version import __version__
from ..collection import SpladeQdrant
from ..errors import (
    CollectionNotFoundError,
    ConfigError,
    FingerprintMismatchError,
    InputError,
    MissingDependencyError,
    ModelNotFoundError,
    SpladeQdrantError,
    StoreUnavailableError,
)
from .metrics import Metrics
from .middleware import BodyLimit, RequestMetrics
from .schemas import (
    BatchSearchRequest,
    BatchSearchResponse,
    CollectionInfo,
    DeleteResponse,
    DocumentsRequest,
    EmbedSparseRequest,
    ErrorResponse,
    Health,
    SearchRequest,
    SearchResponse,
    SparseValue,
)
from .settings import ServiceSettings
from .state import DocumentNotFound, ServiceState

__all__ = ["ERROR_STATUS", "app_from_env", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"
#: Environment variable through which ``serve --workers N`` hands settings to each worker.
ENV_SETTINGS = "SPLADE_QDRANT_SERVE_SETTINGS"

#: Library error type -> HTTP status; the first matching entry wins (most specific first).
ERROR_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (DocumentNotFound, 404),
    (CollectionNotFoundError, 404),
    (FingerprintMismatchError, 409),
    (StoreUnavailableError, 503),
    (ModelNotFoundError, 503),
    (MissingDependencyError, 503),
    (InputError, 422),
    (ConfigError, 422),
    (SpladeQdrantError, 500),
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the body could not be read (e.g. not UTF-8)"},
    401: {"model": ErrorResponse, "description": "client key missing or wrong (when the service requires one)"},
    413: {"model": ErrorResponse, "description": "request body over the cap"},
    422: {"model": ErrorResponse, "description": "invalid request"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "no such collection or document"}}
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {503: {"model": ErrorResponse, "description": "store or model unavailable"}}


class _JSON(JSONResponse):
    """JSON with non-ASCII escaped: any string the client sent (even a lone surrogate) can be echoed."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


async def _state(request: Request) -> ServiceState:  # async: a plain def would hop to a thread per request
    return request.app.state.service  # type: ignore[no-any-return]


StateDep = Annotated[ServiceState, Depends(_state)]


_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer KEY (when the service has --auth-key)")
_api_key = APIKeyHeader(name="api-key", auto_error=False, description="api-key: KEY (when the service has --auth-key)")


async def _require_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> None:
    expected: str | None = request.app.state.auth_key
    if expected is None:
        return
    given = bearer.credentials if bearer is not None else api_key
    if given is None or not secrets.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8")):
        raise HTTPException(401, "missing or wrong client key: send 'Authorization: Bearer KEY' or 'api-key: KEY'",
                            headers={"WWW-Authenticate": "Bearer"})


def _check_page(state: ServiceState, limit: int, offset: int) -> None:
    cap = state.settings.max_limit
    if limit + offset > cap:
        raise HTTPException(422, f"limit + offset must be <= {cap} (the service's --max-limit), got {limit + offset}")


def create_app(settings: ServiceSettings, *, collection: SpladeQdrant | None = None) -> FastAPI:
    """The service application for ``settings``.

    Args:
        settings: what to serve and how.
        collection: an open SpladeQdrant to serve instead of opening ``settings.collection``
            (left open at shutdown).
    """
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServiceState(settings, collection=collection, metrics=metrics)
        state.start()
        app.state.service = state
        try:
            yield
        finally:
            await state.stop()

    app = FastAPI(
        title="splade-qdrant",
        version=__version__,
        summary="SPLADE learned sparse retrieval on Qdrant: search, ingest and encode over HTTP.",
        lifespan=lifespan,
        default_response_class=_JSON,
    )
    app.state.auth_key = settings.resolved_auth_key()

    @app.exception_handler(SpladeQdrantError)
    @app.exception_handler(DocumentNotFound)
    async def _library_error(request: Request, exc: Exception) -> JSONResponse:
        status = next(code for kind, code in ERROR_STATUS if isinstance(exc, kind))
        return _JSON({"detail": str(exc)}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{k: v for k, v in e.items() if k in ("type", "loc", "msg")} for e in exc.errors()]
        return _JSON({"detail": jsonable_encoder(errors)}, status_code=422)

    api = APIRouter(dependencies=[Depends(_require_key)], responses=_ERRORS)

    @api.post("/search", response_model=SearchResponse, responses={**_NOT_FOUND, **_UNAVAILABLE}, tags=["search"])
    async def search(body: SearchRequest, state: StateDep) -> Any:
        """Search one query; each hit exactly as ``splade-qdrant search --json`` prints it.

        Concurrent requests with the same options are micro-batched through the query encoder.
        ``highlight`` adds, per hit, the text's words that carry matching terms."""
        _check_page(state, body.limit, body.offset)
        return _JSON(await state.search(body.text, body.search_options(), highlight=body.highlight))

    @api.post("/search/batch", response_model=BatchSearchResponse, responses={**_NOT_FOUND, **_UNAVAILABLE}, tags=["search"])
    async def search_batch(body: BatchSearchRequest, state: StateDep) -> Any:
        """Search several queries with the same options; one result per query, in order."""
        _check_page(state, body.limit, body.offset)
        options = body.search_options()
        results = await asyncio.gather(*(state.search(t, options) for t in body.texts))
        return _JSON({"results": list(results)})

    @api.post("/documents", responses={**_UNAVAILABLE, 409: {"model": ErrorResponse, "description": "encoder fingerprint mismatch"}},
              tags=["documents"])
    async def add_documents(body: DocumentsRequest, state: StateDep) -> dict[str, Any]:
        """Ingest documents (created or replaced by id; unchanged ones skipped), like ``splade-qdrant ingest``.

        Bad documents are refused with the CLI's message (422), or skipped and reported with
        ``skip_bad``. Answers the ingest report. One writer ingests; searches go on meanwhile."""
        return await state.ingest(body.documents, store_text=body.store_text, skip_bad=body.skip_bad,
                                  insert_only=body.insert_only, reencode=body.reencode)

    @api.delete("/documents/{doc_id}", response_model=DeleteResponse, responses={**_NOT_FOUND, **_UNAVAILABLE}, tags=["documents"])
    async def delete_document(doc_id: str, state: StateDep) -> dict[str, Any]:
        """Delete one document (all its chunks in a chunked collection)."""
        return {"id": doc_id, "points_deleted": await state.delete(doc_id)}

    @api.get("/collections/{name}", response_model=CollectionInfo, responses={**_NOT_FOUND, **_UNAVAILABLE}, tags=["collections"])
    async def collection_info(name: str, state: StateDep) -> dict[str, Any]:
        """Point count, vector configuration and encoder fingerprint of the served collection."""
        if name != state.name:
            raise HTTPException(404, f"this service serves collection {state.name!r}, not {name!r}")
        return await asyncio.get_running_loop().run_in_executor(None, state.info)

    @api.get("/metrics", response_class=PlainTextResponse, tags=["service"])
    async def prometheus(state: StateDep) -> PlainTextResponse:
        """Prometheus text: requests, latencies, query-encoder time, batch sizes, queue depth."""
        points = state.sq.store.count(state.name) if state.collection_exists() else None
        text = metrics.render(queue_depth=state.batcher.depth, points=points)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @api.post("/embed_sparse", response_model=list[list[SparseValue]], responses=_UNAVAILABLE, tags=["encode"])
    async def embed_sparse(
        body: EmbedSparseRequest,
        state: StateDep,
        side: Literal["document", "query"] | None = Query(None, description="encoder side (default: the server's --embed-side)"),
    ) -> Any:
        """SPLADE vectors with Text Embeddings Inference's request and response shapes:
        ``{"inputs": str | [str]}`` -> ``[[{"index": i, "value": w}, ...], ...]`` (a list per input)."""
        texts = [body.inputs] if isinstance(body.inputs, str) else list(body.inputs)
        chosen = side or body.side or state.settings.embed_side
        vectors = await state.embed(texts, chosen)
        return _JSON([[{"index": i, "value": v} for i, v in zip(vec.indices.tolist(), vec.values.tolist())] for vec in vectors])

    app.include_router(api)

    @app.get("/health", response_model=Health, tags=["service"])
    async def health(state: StateDep) -> dict[str, Any]:
        """Liveness and the served collection (no client key needed)."""
        return state.health()

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(RequestMetrics, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "api-key", "Content-Type"])
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def app_from_env() -> FastAPI:
    """The app for settings serialised in ``SPLADE_QDRANT_SERVE_SETTINGS`` (``serve --workers N``)."""
    data = json.loads(os.environ[ENV_SETTINGS])
    data["cors_origins"] = tuple(data.get("cors_origins") or ())
    return create_app(ServiceSettings(**data))
