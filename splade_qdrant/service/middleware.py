"""ASGI middleware of the service: request body cap (413) and per-endpoint request metrics.

Both are plain ASGI callables, so they see every request, including ones the router rejects.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.exceptions import HTTPException

from .metrics import Metrics

__all__ = ["BodyLimit", "RequestMetrics"]

Scope = dict[str, Any]


async def _send_json(send: Any, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413: at once when ``Content-Length`` says
    so, else as soon as the streamed body passes the cap."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body over the limit of {self.max_bytes} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_json(send, 413, {"detail": message})
                    return
        received = 0

        async def limited() -> dict[str, Any]:
            nonlocal received
            msg = await receive()
            if msg["type"] == "http.request":
                received += len(msg.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, message)  # FastAPI turns it into the response
            return msg

        await self.app(scope, limited, send)


class RequestMetrics:
    """Count requests and time them per route template (``/documents/{doc_id}``, not each id)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watched(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "other"
            self.metrics.observe_request(endpoint, scope.get("method", ""), status, time.perf_counter() - started)
