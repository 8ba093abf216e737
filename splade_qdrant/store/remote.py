"""Qdrant servers and clusters through ``qdrant-client`` (REST or gRPC), and its local modes.

``location=":memory:"`` (and ``path=``) use qdrant-client's pure-Python local mode: exact,
but meant for tests (about 1 s per query at 20k points). Use the embedded
:class:`~splade_qdrant.store.edge.EdgeStore` for real work on one machine, a server for more.

The encoder fingerprint lives in the collection's metadata (Qdrant ≥ 1.16) under the key
``"splade_qdrant"``. Transient failures (connection refused, timeouts, HTTP 5xx/429) are
retried with exponential backoff — ``retries`` tries in all, waiting ``backoff_s``, then
twice that, and so on (defaults: 4 tries, 0.5 + 1 + 2 = 3.5 s of waiting) — and then raise
:class:`~splade_qdrant.errors.StoreUnavailableError`; permanent ones (4xx) are not retried.

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
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ..errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    ConfigError,
    StoreError,
    StoreUnavailableError,
)
from ..sparse import SparseVector
from .base import (
    CollectionSpec,
    DenseQuery,
    Filter,
    FusedQuery,
    PointRecord,
    Query,
    SparseQuery,
    Store,
    StoredPoint,
    simple_filter_items,
    spec_from_json,
    spec_to_json,
)

__all__ = ["RemoteStore"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

_META_KEY = "splade_qdrant"
#: Tries of a request that fails transiently (connection refused, timeout, HTTP 5xx / 429).
DEFAULT_RETRIES = 4
#: Wait before the second try in seconds, doubled before each later one.
DEFAULT_BACKOFF_S = 0.5
# qdrant-client probes the server version in a background thread and warns when it cannot;
# an unreachable server is reported by our own StoreUnavailableError, in one line.
warnings.filterwarnings("ignore", message="Failed to obtain server version", category=UserWarning)
_DISTANCES = {"cosine": models.Distance.COSINE, "dot": models.Distance.DOT, "euclid": models.Distance.EUCLID}
_DATATYPES = {"float32": models.Datatype.FLOAT32, "float16": models.Datatype.FLOAT16, "uint8": models.Datatype.UINT8}


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429
    if isinstance(exc, (ResponseHandlingException, ConnectionError, TimeoutError)):
        return True
    return type(exc).__name__ in {"RpcError", "_InactiveRpcError", "ConnectError", "ReadTimeout", "ConnectTimeout"}


def _to_client_filter(filt: Filter | None) -> models.Filter | None:
    if filt is None or isinstance(filt, models.Filter):
        return filt
    if not isinstance(filt, Mapping):
        raise ConfigError(f"qdrant-client stores take a dict filter or a qdrant_client.models.Filter, got {type(filt).__name__}")
    must: list[Any] = []
    for key, value in simple_filter_items(filt):
        match = models.MatchAny(any=value) if isinstance(value, list) else models.MatchValue(value=value)
        must.append(models.FieldCondition(key=key, match=match))
    return models.Filter(must=must) if must else None


def _client_sparse(vec: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=vec.indices.tolist(), values=vec.values.tolist())


def _query_vector(q: SparseQuery | DenseQuery) -> Any:
    if isinstance(q, SparseQuery):
        return _client_sparse(q.vector)
    return np.asarray(q.vector, dtype=np.float32).tolist()


def _stored(point: Any) -> StoredPoint:
    sparse = dense = None
    vectors = getattr(point, "vector", None)
    if isinstance(vectors, dict):
        for value in vectors.values():
            if isinstance(value, models.SparseVector):
                sparse = SparseVector.from_arrays(value.indices, value.values)
            elif value is not None:
                dense = np.asarray(value, dtype=np.float32)
    return StoredPoint(str(point.id), float(getattr(point, "score", 0.0) or 0.0), dict(point.payload or {}), sparse, dense)


class RemoteStore(Store):
    """Collections on a Qdrant server (``url``), or in qdrant-client's local mode.

    Args:
        url: server URL, e.g. ``http://localhost:6333``.
        api_key: API key for Qdrant Cloud or secured servers.
        prefer_grpc: talk gRPC (port 6334) instead of REST.
        location: ``":memory:"`` for an in-process test store.
        path: directory for qdrant-client's on-disk local mode.
        client: an existing ``QdrantClient`` (other connection arguments must be None).
        timeout: request timeout in seconds.
        retries: tries of a transiently failing request (>= 1).
        backoff_s: wait in seconds before the second try, doubled before each later one.
    """

    kind = "qdrant-client"

    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        prefer_grpc: bool = False,
        location: str | None = None,
        path: str | None = None,
        client: QdrantClient | None = None,
        timeout: int = 60,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
    ) -> None:
        given = [x is not None for x in (url, location, path, client)]
        if sum(given) != 1:
            raise ConfigError("give exactly one of url, location, path or client")
        if retries < 1 or backoff_s < 0:
            raise ConfigError(f"retries must be >= 1 and backoff_s >= 0, got {retries} and {backoff_s}")
        self.retries, self.backoff_s = retries, backoff_s
        self._where = url or location or path or "existing QdrantClient"
        if client is not None:
            self.client = client
        else:
            try:
                self.client = QdrantClient(
                    url=url, api_key=api_key, prefer_grpc=prefer_grpc, location=location, path=path, timeout=timeout
                )
            except RuntimeError as exc:  # local mode path locked by another client
                raise StoreUnavailableError(f"cannot open {self._where}: {exc}") from None

    def describe(self) -> str:
        return f"Qdrant at {self._where}"

    def _call(self, action: str, fn: Callable[[], T], *, collection: str | None = None) -> T:
        delay = self.backoff_s
        for attempt in range(1, self.retries + 1):
            try:
                return fn()
            except (StoreError, ConfigError):
                raise
            except Exception as exc:  # noqa: BLE001 — translated below
                text = str(exc)
                if collection is not None and ("not found" in text.lower() or "doesn't exist" in text):
                    raise CollectionNotFoundError(f"collection {collection!r} does not exist in {self.describe()}") from None
                if _is_transient(exc) and attempt < self.retries:
                    logger.info("%s failed (%s); retrying in %.1f s", action, type(exc).__name__, delay)
                    time.sleep(delay)
                    delay *= 2
                    continue
                if _is_transient(exc):
                    raise StoreUnavailableError(
                        f"cannot {action}: {self.describe()} is unreachable after {self.retries} tries ({type(exc).__name__}); "
                        "check --url / QDRANT_URL and that the server is running"
                    ) from None
                first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
                raise StoreError(f"cannot {action}: {first}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _info(self, name: str) -> Any:
        return self._call(f"read collection {name!r}", lambda: self.client.get_collection(name), collection=name)

    def list_collections(self) -> list[str]:
        result = self._call("list collections", self.client.get_collections)
        return sorted(c.name for c in result.collections)

    def collection_exists(self, name: str) -> bool:
        return bool(self._call("check collection", lambda: self.client.collection_exists(name)))

    def create_collection(self, name: str, spec: CollectionSpec) -> None:
        if self.collection_exists(name):
            raise CollectionExistsError(f"collection {name!r} already exists in {self.describe()}")
        sparse = models.SparseVectorParams(
            index=models.SparseIndexParams(datatype=_DATATYPES[spec.sparse_datatype]),
            modifier=models.Modifier.IDF if spec.idf else None,
        )
        dense: dict[str, models.VectorParams] = {}
        if spec.dense is not None:
            dense[spec.dense.name] = models.VectorParams(size=spec.dense.size, distance=_DISTANCES[spec.dense.distance])
        meta = {_META_KEY: {"spec": spec_to_json(spec), "metadata": dict(spec.metadata)}}
        self._call(
            f"create collection {name!r}",
            lambda: self.client.create_collection(
                name, vectors_config=dense, sparse_vectors_config={spec.sparse_name: sparse}, metadata=meta
            ),
        )

    def delete_collection(self, name: str) -> None:
        if not self.collection_exists(name):
            raise CollectionNotFoundError(f"collection {name!r} does not exist in {self.describe()}")
        self._call(f"delete collection {name!r}", lambda: self.client.delete_collection(name))

    def _record(self, name: str) -> dict[str, Any]:
        meta = self._info(name).config.metadata or {}
        record = meta.get(_META_KEY)
        if record is None:
            raise StoreError(
                f"collection {name!r} was not created by splade_qdrant (no {_META_KEY!r} metadata); "
                "ingest into a new collection"
            )
        return dict(record)

    def metadata(self, name: str) -> dict[str, Any]:
        return dict(self._record(name).get("metadata", {}))

    def set_metadata(self, name: str, metadata: Mapping[str, Any]) -> None:
        record = self._record(name)
        record["metadata"] = dict(metadata)
        self._call(
            f"update collection {name!r}", lambda: self.client.update_collection(name, metadata={_META_KEY: record})
        )

    def spec(self, name: str) -> CollectionSpec:
        record = self._record(name)
        return spec_from_json(record["spec"], record.get("metadata", {}))

    def upsert(self, name: str, points: Sequence[PointRecord], *, insert_only: bool = False) -> None:
        if not points:
            return
        spec = self.spec(name)
        structs = []
        for p in points:
            vector: dict[str, Any] = {spec.sparse_name: _client_sparse(p.sparse)}
            if p.dense is not None:
                if spec.dense is None:
                    raise ConfigError(f"collection {name!r} has no dense vector; recreate it with a dense model")
                vector[spec.dense.name] = np.asarray(p.dense, dtype=np.float32).tolist()
            structs.append(models.PointStruct(id=p.id, vector=vector, payload=dict(p.payload)))
        mode = models.UpdateMode.INSERT_ONLY if insert_only else None
        kwargs: dict[str, Any] = {"update_mode": mode} if mode is not None else {}
        self._call(
            f"write to collection {name!r}",
            lambda: self.client.upsert(name, points=structs, wait=True, **kwargs),
            collection=name,
        )

    def delete(self, name: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        selector = models.PointIdsList(points=list(ids))
        self._call(
            f"delete from collection {name!r}",
            lambda: self.client.delete(name, points_selector=selector, wait=True),
            collection=name,
        )

    def count(self, name: str) -> int:
        return int(self._call(f"count collection {name!r}", lambda: self.client.count(name, exact=True), collection=name).count)

    def scroll(self, name: str, *, batch_size: int = 1000) -> Iterator[StoredPoint]:
        offset: Any = None
        while True:
            start = offset
            records, offset = self._call(
                f"read collection {name!r}",
                lambda: self.client.scroll(name, limit=batch_size, offset=start, with_payload=True, with_vectors=False),
                collection=name,
            )
            yield from (_stored(r) for r in records)
            if offset is None:
                return

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        if not ids:
            return []
        records = self._call(
            f"read collection {name!r}",
            lambda: self.client.retrieve(name, ids=list(ids), with_payload=True, with_vectors=with_vectors),
            collection=name,
        )
        return [_stored(r) for r in records]

    def _request(self, query: Query, *, limit: int, offset: int, score_threshold: float | None, filt: Any, with_vectors: bool) -> dict[str, Any]:
        common: dict[str, Any] = {
            "limit": limit,
            "offset": offset,
            "score_threshold": score_threshold,
            "query_filter": filt,
            "with_payload": True,
            "with_vectors": with_vectors,
        }
        if isinstance(query, FusedQuery):
            prefetch = [
                models.Prefetch(query=_query_vector(q), using=q.using, limit=query.prefetch_limit, filter=filt)
                for q in query.prefetch
            ]
            if query.method == "rrf":
                weights = None if query.weights is None else [float(w) for w in query.weights]
                fused: Any = models.RrfQuery(rrf=models.Rrf(k=int(query.k), weights=weights))
            else:
                fused = models.FusionQuery(fusion=models.Fusion.DBSF)
            return {"query": fused, "prefetch": prefetch, **common}
        return {"query": _query_vector(query), "using": query.using, **common}

    def query(
        self,
        name: str,
        query: Query,
        *,
        limit: int,
        offset: int = 0,
        score_threshold: float | None = None,
        filter: Filter | None = None,
        with_vectors: bool = False,
    ) -> list[StoredPoint]:
        kwargs = self._request(
            query, limit=limit, offset=offset, score_threshold=score_threshold, filt=_to_client_filter(filter), with_vectors=with_vectors
        )
        result = self._call(f"query collection {name!r}", lambda: self.client.query_points(name, **kwargs), collection=name)
        return [_stored(p) for p in result.points]

    def query_batch(
        self,
        name: str,
        queries: Sequence[Query],
        *,
        limit: int,
        offset: int = 0,
        score_threshold: float | None = None,
        filter: Filter | None = None,
        with_vectors: bool = False,
    ) -> list[list[StoredPoint]]:
        if not queries:
            return []
        filt = _to_client_filter(filter)
        requests = []
        for q in queries:
            kw = self._request(q, limit=limit, offset=offset, score_threshold=score_threshold, filt=filt, with_vectors=with_vectors)
            kw["filter"] = kw.pop("query_filter")
            kw["with_vector"] = kw.pop("with_vectors")  # QueryRequest spells it in the singular
            requests.append(models.QueryRequest(**kw))
        results = self._call(
            f"query collection {name!r}", lambda: self.client.query_batch_points(name, requests=requests), collection=name
        )
        return [[_stored(p) for p in r.points] for r in results]

    def close(self) -> None:
        self.client.close()

