"""A fake Qdrant REST server for tests: a small in-memory state machine behind real HTTP.

It answers the endpoints the library's server path uses (collections: list, exists, info,
create, update, delete, payload index; points: upsert, delete, count, retrieve, scroll, and
sparse nearest-neighbour queries in batch) with the JSON shapes of Qdrant's REST API
(``{"result": …, "status": "ok", "time": …}``; errors ``{"status": {"error": …}, "time": …}``),
as Qdrant 1.16's OpenAPI schema and qdrant-client's generated models define them. qdrant-client
parses every answer with those models, so a shape that drifted would fail the tests.

Faults are rules: answer a status (or stall past the client's timeout) for matching requests,
a number of times or for ever, optionally after letting some through. Every request is
recorded as ``(method, path)`` so tests count what the client sent.

Run it with pytest-httpserver's ``HTTPServer`` (see :func:`serve`).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

VERSION = {"title": "qdrant - vector search engine", "version": "1.16.0", "commit": "0" * 40}
_COLLECTION = re.compile(r"^/collections/(?P<name>[^/]+)(?P<rest>/.*)?$")


@dataclass
class Rule:
    """Answer ``status`` (or sleep ``stall_s`` first) to requests matching ``method`` and ``path``."""

    method: str
    path: str
    status: int = 503
    times: int | None = None  # None: for ever
    after: int = 0  # let this many matching requests through first
    stall_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    seen: int = 0

    def fires(self, method: str, path: str) -> bool:
        if method != self.method or not re.fullmatch(self.path, path):
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        return self.times is None or self.seen - self.after <= self.times


@dataclass
class _Collection:
    params: dict[str, Any]
    metadata: dict[str, Any]
    points: dict[str, dict[str, Any]] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)


class FakeQdrant:
    """The state of one fake server; ``handle`` is the WSGI-level request handler."""

    def __init__(self, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.collections: dict[str, _Collection] = {}
        self.rules: list[Rule] = []
        self.requests: list[tuple[str, str]] = []
        #: Points received by successful upserts, in all.
        self.upserted = 0
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- test controls

    def fail(self, method: str, path: str, status: int = 503, **options: Any) -> Rule:
        """Add a fault rule (see :class:`Rule`) and return it."""
        rule = Rule(method, path, status, **options)
        self.rules.append(rule)
        return rule

    def count(self, method: str, path: str) -> int:
        """How many requests matched ``method`` and the ``path`` pattern."""
        return sum(1 for m, p in self.requests if m == method and re.fullmatch(path, p))

    # ---------------------------------------------------------------- HTTP

    def handle(self, request: Request) -> Response:
        method, path = request.method, request.path
        with self._lock:
            self.requests.append((method, path))
            rule = next((r for r in self.rules if r.fires(method, path)), None)
        if rule is not None:
            time.sleep(rule.stall_s)
            body = rule.body if rule.body is not None else {"status": {"error": f"Service unavailable (fake {rule.status})"}, "time": 0.0}
            return _json(body, rule.status, rule.headers)
        if self.api_key is not None and request.headers.get("api-key") != self.api_key:
            return Response("Must provide an API key or an Authorization bearer token", status=401, content_type="text/plain")
        try:
            with self._lock:
                return _json({"result": self._route(method, path, request), "status": "ok", "time": 0.0001})
        except _NotFound as exc:
            return _json({"status": {"error": f"Not found: Collection `{exc}` doesn't exist!"}, "time": 0.0}, 404)
        except _BadRequest as exc:
            return _json({"status": {"error": f"Wrong input: {exc}"}, "time": 0.0}, 400)

    def _route(self, method: str, path: str, request: Request) -> Any:
        if path == "/" and method == "GET":
            return VERSION
        if path == "/collections" and method == "GET":
            return {"collections": [{"name": n} for n in sorted(self.collections)]}
        match = _COLLECTION.match(path)
        if match is None:
            raise _BadRequest(f"fake Qdrant has no route {method} {path}")
        name, rest = match["name"], match["rest"] or ""
        body = request.get_json(silent=True) or {}
        if rest == "/exists" and method == "GET":
            return {"exists": name in self.collections}
        if rest == "" and method == "PUT":
            if name in self.collections:
                raise _BadRequest(f"Collection `{name}` already exists!")
            params = {k: v for k, v in body.items() if k not in ("metadata",) and v is not None}
            self.collections[name] = _Collection(params=params, metadata=dict(body.get("metadata") or {}))
            return True
        if rest == "" and method == "DELETE":
            return self.collections.pop(name, None) is not None
        coll = self.collections.get(name)
        if coll is None:
            raise _NotFound(name)
        if rest == "" and method == "GET":
            return _info(coll)
        if rest == "" and method == "PATCH":
            coll.metadata.update(body.get("metadata") or {})
            return True
        if rest == "/index" and method == "PUT":
            coll.indexes[body["field_name"]] = body["field_schema"]
            return _update_result()
        return self._points(coll, method, rest, body)

    def _points(self, coll: _Collection, method: str, rest: str, body: dict[str, Any]) -> Any:
        if rest == "/points" and method == "PUT":
            insert_only = body.get("update_mode") == "insert_only"
            self.upserted += len(body["points"])
            for p in body["points"]:
                pid = str(uuid.UUID(str(p["id"])))
                if not (insert_only and pid in coll.points):
                    coll.points[pid] = {"vector": p.get("vector") or {}, "payload": p.get("payload") or {}}
            return _update_result()
        if rest == "/points/delete" and method == "POST":
            for pid in body.get("points", []):
                coll.points.pop(str(uuid.UUID(str(pid))), None)
            return _update_result()
        if rest == "/points/count" and method == "POST":
            return {"count": len(coll.points)}
        if rest == "/points" and method == "POST":
            ids = [str(uuid.UUID(str(i))) for i in body.get("ids", [])]
            return [_record(i, coll.points[i], body.get("with_vector")) for i in ids if i in coll.points]
        if rest == "/points/scroll" and method == "POST":
            ordered = sorted(coll.points, key=uuid.UUID)
            if body.get("offset") is not None:
                start = uuid.UUID(str(body["offset"]))
                ordered = [i for i in ordered if uuid.UUID(i) >= start]
            limit = int(body.get("limit") or 10)
            page, nxt = ordered[:limit], (ordered[limit] if len(ordered) > limit else None)
            return {"points": [_record(i, coll.points[i], body.get("with_vector")) for i in page], "next_page_offset": nxt}
        if rest == "/points/query/batch" and method == "POST":
            return [{"points": _nearest(coll, search)} for search in body["searches"]]
        raise _BadRequest(f"fake Qdrant has no route {method} {rest}")


class _NotFound(Exception):
    pass


class _BadRequest(Exception):
    pass


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


def _update_result() -> dict[str, Any]:
    return {"operation_id": 1, "status": "completed"}


def _record(pid: str, point: dict[str, Any], with_vector: Any) -> dict[str, Any]:
    return {"id": pid, "payload": point["payload"], "vector": point["vector"] if with_vector else None}


def _nearest(coll: _Collection, search: dict[str, Any]) -> list[dict[str, Any]]:
    """Exact sparse dot products for ``{"query": {"nearest": {"indices", "values"}}, "using": name}`` (no filters)."""
    query, using = search["query"], search.get("using")
    query = query.get("nearest", query) if isinstance(query, dict) else query
    if not isinstance(query, dict) or "indices" not in query or search.get("filter") or search.get("prefetch"):
        raise _BadRequest("the fake answers plain sparse queries only")
    weights = dict(zip(query["indices"], query["values"]))
    scored = []
    for pid, point in coll.points.items():
        vec = point["vector"].get(using) or {}
        score = sum(weights.get(i, 0.0) * v for i, v in zip(vec.get("indices", []), vec.get("values", [])))
        if vec.get("indices") and set(vec["indices"]) & set(weights):
            scored.append((score, pid))
    scored.sort(key=lambda item: (-item[0], item[1]))
    offset, limit = int(search.get("offset") or 0), int(search.get("limit") or 10)
    return [{"id": pid, "version": 1, "score": s, "payload": coll.points[pid]["payload"], "vector": None}
            for s, pid in scored[offset:offset + limit]]


def _info(coll: _Collection) -> dict[str, Any]:
    """``GET /collections/{name}`` as Qdrant 1.16 answers it (CollectionInfo)."""
    params = {
        "vectors": coll.params.get("vectors", {}),
        "shard_number": coll.params.get("shard_number", 1),
        "replication_factor": coll.params.get("replication_factor", 1),
        "write_consistency_factor": coll.params.get("write_consistency_factor", 1),
        "on_disk_payload": coll.params.get("on_disk_payload", True),
        "sparse_vectors": coll.params.get("sparse_vectors", {}),
    }
    return {
        "status": "green",
        "optimizer_status": "ok",
        "indexed_vectors_count": 0,
        "points_count": len(coll.points),
        "segments_count": 2,
        "config": {
            "params": params,
            "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0, "on_disk": False},
            "optimizer_config": {
                "deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
                "max_segment_size": None, "memmap_threshold": None, "indexing_threshold": 10000,
                "flush_interval_sec": 5, "max_optimization_threads": None,
            },
            "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
            "quantization_config": None,
            "strict_mode_config": {"enabled": False},
            "metadata": coll.metadata,
        },
        "payload_schema": {k: {"data_type": v, "points": len(coll.points)} for k, v in coll.indexes.items()},
    }


class _QuickStopServer(HTTPServer):
    """pytest-httpserver's server polling for shutdown every 20 ms instead of 0.5 s (each stop
    waited up to half a second: most of a fake-server test's time)."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.02)


@contextmanager
def serve(fake: FakeQdrant, *, ssl_context: ssl.SSLContext | None = None) -> Iterator[str]:
    """Run ``fake`` on a loopback port (threaded, so a stalled answer does not block the next); yield its URL.

    With ``ssl_context`` it speaks HTTPS and the URL starts with ``https://``.
    """
    server = _QuickStopServer(host="127.0.0.1", port=0, threaded=True, ssl_context=ssl_context)
    server.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    server.start()
    scheme = "https" if ssl_context is not None else "http"
    try:
        yield f"{scheme}://127.0.0.1:{server.port}"
    finally:
        server.clear()
        if server.is_running():
            server.stop()
