"""Qdrant servers and clusters through ``qdrant-client`` (REST or gRPC), and its local modes.

``location=":memory:"`` (and ``path=``) use qdrant-client's pure-Python local mode: exact,
but meant for tests (about 1 s per query at 20k points). Use the embedded
:class:`~splade_qdrant.store.edge.EdgeStore` for real work on one machine, a server for more.

The encoder fingerprint lives in the collection's metadata (Qdrant ≥ 1.16) under the key
``"splade_qdrant"``. Transient failures (connection refused, timeouts, HTTP 429 / 500 / 502 /
503 / 504 and their gRPC codes) are retried with exponential backoff — ``retries`` tries in
all, waiting ``backoff_s``, then twice that, and so on (defaults: 4 tries, 0.5 + 1 + 2 = 3.5 s
of waiting) — and then raise :class:`~splade_qdrant.errors.StoreUnavailableError`; 401/403
raise :class:`~splade_qdrant.errors.StoreAuthError`, 404 on a collection
:class:`~splade_qdrant.errors.CollectionNotFoundError`; other 4xx are never retried.
Connection settings resolve argument > environment > default (see :mod:`.connection`).

Example:
    >>> from splade_qdrant.sparse import SparseVector
    >>> store = RemoteStore(location=":memory:")
    >>> store.create_collection("docs", CollectionSpec())
    >>> store.upsert("docs", [PointRecord("5f0e6c1c-0000-5000-8000-000000000001", SparseVector.from_dict({3: 1.0}), {"doc_id": "a"})])
    >>> [h.payload["doc_id"] for h in store.query("docs", SparseQuery(SparseVector.from_dict({3: 2.0}), "splade"), limit=5)]
    ['a']
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from qdrant_client import QdrantClient, models

from ..errors import (
    CollectionExistsError,
    ConfigError,
    StoreAuthError,
    StoreError,
    StoreUnavailableError,
)
from ..sparse import SparseVector
from ._remote_faults import Fault, classify, detail, retry_after_s
from .base import CollectionSpec, PointRecord, SparseQuery, Store  # noqa: F401 — PointRecord: doctest
from .connection import (
    DEFAULT_BACKOFF_S,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    ServerConnection,
)
from .spec import PayloadType, ServerOptions, spec_from_json, spec_to_json
from .types import FilterTypes, FusedQuery, SearchRequest

__all__ = ["DEFAULT_BACKOFF_S", "DEFAULT_RETRIES", "RemoteStore"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

_META_KEY = "splade_qdrant"
#: Longest wait a server's Retry-After may impose on one try, in seconds.
MAX_RETRY_AFTER_S = 30.0
_DISTANCES = {"cosine": models.Distance.COSINE, "dot": models.Distance.DOT, "euclid": models.Distance.EUCLID}
_DATATYPES = {"float32": models.Datatype.FLOAT32, "float16": models.Datatype.FLOAT16, "uint8": models.Datatype.UINT8}
_PAYLOAD_NAMES = {t.value: t.value for t in models.PayloadSchemaType}


class RemoteStore(Store):
    """Collections on a Qdrant server (``url``), or in qdrant-client's local mode.

    Args:
        url: server URL, e.g. ``http://localhost:6333`` (``https://`` turns TLS on).
        api_key: API key for Qdrant Cloud or secured servers.
        prefer_grpc: talk gRPC (port 6334) instead of REST.
        location: ``":memory:"`` for an in-process test store.
        path: directory for qdrant-client's on-disk local mode.
        client: an existing ``QdrantClient`` (other connection arguments must be None).
        timeout: request timeout in seconds.
        retries: tries of a transiently failing request (>= 1).
        backoff_s: wait in seconds before the second try, doubled before each later one.
        ca_cert: PEM file of the CA that signed the server's TLS certificate.
        verify: check the server's TLS certificate (False only for testing).
        connection: a resolved :class:`ServerConnection` instead of the arguments above.
    """

    kind = "qdrant-client"
    filter_types = FilterTypes(models.Filter, models.FieldCondition, models.MatchValue, models.MatchAny, "qdrant_client.models.Filter")

    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        prefer_grpc: bool = False,
        location: str | None = None,
        path: str | None = None,
        client: QdrantClient | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        ca_cert: str | None = None,
        verify: bool = True,
        connection: ServerConnection | None = None,
    ) -> None:
        super().__init__()
        given = [x is not None for x in (url, location, path, client, connection)]
        if sum(given) != 1:
            raise ConfigError("give exactly one of url, location, path, client or connection")
        if url is not None:
            connection = ServerConnection(
                url=url, api_key=api_key, prefer_grpc=prefer_grpc, timeout_s=timeout, retries=retries,
                backoff_s=backoff_s, ca_cert=ca_cert, verify=verify,
            )
        elif connection is None and (retries < 1 or backoff_s < 0):
            raise ConfigError(f"retries must be >= 1 and backoff_s >= 0, got {retries} and {backoff_s}")
        self.connection = connection
        self.retries = connection.retries if connection else retries
        self.backoff_s = connection.backoff_s if connection else backoff_s
        self._local = location is not None or path is not None
        self._where = connection.url if connection else (location or path or "existing QdrantClient")
        if client is not None:
            self.client = client
        elif connection is not None:
            self.client = _server_client(connection)
        else:
            try:
                self.client = QdrantClient(location=location, path=path)
            except RuntimeError as exc:  # local mode path locked by another client
                raise StoreUnavailableError(f"cannot open {self._where}: {exc}") from None

    def describe(self) -> str:
        return f"Qdrant at {self._where}"

    # ------------------------------------------------------------------ the error boundary

    def _attempt(self, fn: Callable[[], T]) -> T:
        delay = self.backoff_s
        for attempt in range(1, self.retries + 1):
            try:
                return fn()
            except Exception as exc:
                if classify(exc) is not Fault.TRANSIENT or attempt == self.retries:
                    raise
                wait = max(delay, min(retry_after_s(exc) or 0.0, MAX_RETRY_AFTER_S))
                logger.info("%s: %s; try %d of %d in %.2f s", self.describe(), detail(exc), attempt + 1, self.retries, wait)
                time.sleep(wait)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate(self, exc: Exception, action: str, collection: str | None) -> StoreError:
        fault, why = classify(exc), detail(exc)
        if fault is Fault.TRANSIENT:
            return StoreUnavailableError(
                f"cannot {action}: {self.describe()} is unreachable after {self.retries} {'try' if self.retries == 1 else 'tries'} ({why}); "
                "check --url / QDRANT_URL and that the server is running"
            )
        if fault is Fault.AUTH:
            return StoreAuthError(
                f"cannot {action}: {self._where} refused the credentials ({why}); check --api-key / QDRANT_API_KEY "
                "and that the key may access this collection"
            )
        if fault is Fault.TLS:
            return StoreUnavailableError(
                f"cannot {action}: the TLS handshake with {self._where} failed ({why}); for a private CA pass "
                "--ca-cert FILE (SPLADE_QDRANT_CA_CERT), or --no-tls-verify for a test server"
            )
        if collection is not None and (fault is Fault.NOT_FOUND or (fault is Fault.LOCAL and not self._exists(collection))):
            return self._not_found(collection)
        if fault is Fault.CONFLICT and collection is not None:
            return CollectionExistsError(f"collection {collection!r} already exists in {self.describe()}")
        return StoreError(f"cannot {action}: {why}")

    # ------------------------------------------------------------------ collection hooks

    def _names(self) -> list[str]:
        return [c.name for c in self.client.get_collections().collections]

    def _exists(self, name: str) -> bool:
        return bool(self.client.collection_exists(name))

    def _create(self, name: str, spec: CollectionSpec) -> None:
        server = spec.server or ServerOptions()
        sparse = models.SparseVectorParams(
            index=models.SparseIndexParams(datatype=_DATATYPES[spec.sparse_datatype], on_disk=server.on_disk_sparse),
            modifier=models.Modifier.IDF if spec.idf else None,
        )
        dense: dict[str, models.VectorParams] = {}
        if spec.dense is not None:
            dense[spec.dense.name] = models.VectorParams(size=spec.dense.size, distance=_DISTANCES[spec.dense.distance])
        record = {"spec": spec_to_json(spec), "metadata": dict(spec.metadata), "server": server.given()}
        self.client.create_collection(
            name, vectors_config=dense, sparse_vectors_config={spec.sparse_name: sparse}, metadata={_META_KEY: record},
            shard_number=server.shards, replication_factor=server.replicas,
            write_consistency_factor=server.write_consistency, on_disk_payload=server.on_disk_payload,
        )

    def _drop(self, name: str) -> None:
        self.client.delete_collection(name)

    def _record(self, info: Any, name: str) -> dict[str, Any]:
        record = (info.config.metadata or {}).get(_META_KEY)
        if record is None:
            raise StoreError(
                f"collection {name!r} was not created by splade_qdrant (no {_META_KEY!r} metadata); "
                "ingest into a new collection"
            )
        return dict(record)

    def _read_spec(self, name: str) -> CollectionSpec:
        info = self.client.get_collection(name)
        record = self._record(info, name)
        indexes = dict(record.get("payload_indexes", {}))  # local mode keeps no payload indexes of its own
        for key, schema in (info.payload_schema or {}).items():
            if schema.data_type is not None and str(schema.data_type.value) in _PAYLOAD_NAMES:
                indexes[key] = str(schema.data_type.value)
        params = info.config.params
        sparse = (params.sparse_vectors or {}).get(record["spec"]["sparse_name"])
        reported = {
            "shards": params.shard_number,
            "replicas": params.replication_factor,
            "write_consistency": params.write_consistency_factor,
            "on_disk_payload": params.on_disk_payload,
            "on_disk_sparse": None if sparse is None or sparse.index is None else sparse.index.on_disk,
        }
        options = {**record.get("server", {}), **{k: v for k, v in reported.items() if v is not None}}
        return spec_from_json(record["spec"], record.get("metadata", {}), payload_indexes=indexes, server=ServerOptions(**options))

    def _write_metadata(self, name: str, metadata: dict[str, Any]) -> None:
        record = self._record(self.client.get_collection(name), name)
        record["metadata"] = metadata
        self.client.update_collection(name, metadata={_META_KEY: record})

    def _index(self, name: str, field_name: str, kind: PayloadType) -> None:
        if self._local:  # local mode ignores payload indexes (and warns); record the wish instead
            record = self._record(self.client.get_collection(name), name)
            record["payload_indexes"] = {**record.get("payload_indexes", {}), field_name: kind}
            self.client.update_collection(name, metadata={_META_KEY: record})
            return
        self.client.create_payload_index(name, field_name, field_schema=models.PayloadSchemaType(kind), wait=True)

    # ------------------------------------------------------------------ point hooks

    def _sparse(self, vector: SparseVector) -> models.SparseVector:
        return models.SparseVector(indices=vector.indices.tolist(), values=vector.values.tolist())

    def _sparse_arrays(self, value: Any) -> tuple[Any, Any] | None:
        return (value.indices, value.values) if isinstance(value, models.SparseVector) else None

    def _write(self, name: str, rows: list[tuple[str, dict[str, Any], dict[str, Any]]], insert_only: bool) -> None:
        structs = [models.PointStruct(id=i, vector=v, payload=p) for i, v, p in rows]
        if insert_only:
            self.client.upsert(name, points=structs, wait=True, update_mode=models.UpdateMode.INSERT_ONLY)
        else:
            self.client.upsert(name, points=structs, wait=True)

    def _delete_points(self, name: str, ids: list[str]) -> None:
        self.client.delete(name, points_selector=models.PointIdsList(points=ids), wait=True)

    def _count(self, name: str) -> int:
        return int(self.client.count(name, exact=True).count)

    def _retrieve(self, name: str, ids: list[str], with_vectors: bool) -> Sequence[Any]:
        return self.client.retrieve(name, ids=ids, with_payload=True, with_vectors=with_vectors)

    def _scroll(self, name: str, limit: int, offset: str | None, with_vectors: bool) -> tuple[Sequence[Any], Any]:
        return self.client.scroll(name, limit=limit, offset=offset, with_payload=True, with_vectors=with_vectors)

    def _search(self, name: str, requests: list[SearchRequest]) -> Sequence[Sequence[Any]]:
        return [r.points for r in self.client.query_batch_points(name, requests=[_client_request(self, r) for r in requests])]

    def close(self) -> None:
        self.client.close()


def _client_request(store: RemoteStore, r: SearchRequest) -> models.QueryRequest:
    """A request in qdrant-client's model: vectors and their names travel apart."""

    def vector(q: Any) -> Any:
        return store._sparse(q.vector) if isinstance(q, SparseQuery) else [float(x) for x in q.vector]

    q, prefetch, using = r.query, None, None
    if isinstance(q, FusedQuery):
        prefetch = [models.Prefetch(query=vector(p), using=p.using, limit=q.prefetch_limit, filter=r.filter) for p in q.prefetch]
        query: Any = models.RrfQuery(rrf=models.Rrf(k=q.k, weights=q.weights)) if q.method == "rrf" else models.FusionQuery(fusion=models.Fusion.DBSF)
    else:
        query, using = vector(q), q.using
    return models.QueryRequest(
        query=query, using=using, prefetch=prefetch, filter=r.filter, limit=r.limit, offset=r.offset,
        score_threshold=r.score_threshold, with_payload=True, with_vector=r.with_vectors,
    )


def _server_client(c: ServerConnection) -> QdrantClient:
    """A QdrantClient for ``c``: TLS from the URL, a CA file for REST and gRPC, no version probe."""
    extra: dict[str, Any] = {}
    grpc_options: dict[str, Any] = {}
    if c.tls and not c.verify:
        extra["verify"] = False
    elif c.tls and c.ca_cert is not None:
        extra["verify"] = ssl.create_default_context(cafile=c.ca_cert)
        grpc_options["root_certificates"] = Path(c.ca_cert).read_bytes()
    try:
        return QdrantClient(
            url=c.url, api_key=c.api_key, prefer_grpc=c.prefer_grpc, timeout=c.timeout_s,  # type: ignore[arg-type]
            check_compatibility=False, grpc_options=grpc_options or None, **extra,
        )
    except ValueError as exc:  # qdrant-client's own URL checks
        raise ConfigError(f"cannot use server URL {c.url!r}: {exc}") from None
