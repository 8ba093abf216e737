"""The store interface and its one template: what ingest and search need from a Qdrant backend.

Backends (:mod:`.edge` for the embedded Qdrant Edge engine, :mod:`.remote` for qdrant-client)
subclass :class:`Store`. The public methods live here, once: they validate (collection names,
points against the collection's cached :class:`CollectionSpec`, dense sizes, filters), build
the backend-neutral shapes (named vectors, :class:`SearchRequest`), and call small backend
hooks (``_write``, ``_search``, ``_scroll`` …) that only map value types. Every hook runs
inside :meth:`Store._guard`, the one boundary where a backend's exceptions become the
project's errors (the backend's ``_translate`` table, by type and status code).

Filters are either a *simple filter* — ``{"key": value}`` for equality or
``{"key": [v1, v2]}`` for any-of, all keys must match — or the backend's native filter
object (``qdrant_edge.Filter`` on Edge, ``qdrant_client.models.Filter`` on qdrant-client).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from ..errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    ConfigError,
    SpladeQdrantError,
    StoreError,
)
from ..sparse import SparseVector
from .spec import (
    CollectionSpec,
    DenseSpec,
    Distance,
    PayloadType,
    ServerOptions,
    SparseDatatype,
    check_index,
    spec_from_json,
    spec_to_json,
    with_defaults,
)
from .types import (
    DenseQuery,
    Filter,
    FilterTypes,
    FusedQuery,
    PointRecord,
    Query,
    SearchRequest,
    SparseQuery,
    StoredPoint,
    native_filter,
    normal_query,
    simple_filter_items,
)

__all__ = [
    "UNINDEXED_FILTER_WARNING_POINTS", "CollectionSpec", "DenseQuery", "DenseSpec", "Distance", "Filter",
    "FilterTypes", "FusedQuery", "PayloadType", "PointRecord", "Query", "SearchRequest", "ServerOptions",
    "SparseDatatype", "SparseQuery", "Store", "StoredPoint", "simple_filter_items", "spec_from_json", "spec_to_json",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: A filtered search on a collection of at least this many points warns once per unindexed field.
UNINDEXED_FILTER_WARNING_POINTS = 10_000


class Store(ABC):
    """A Qdrant backend holding named collections (the template; backends fill in the hooks)."""

    #: Short backend name for reports ("edge", "qdrant-client").
    kind: str = ""
    #: The backend's filter classes, for simple filters and native-filter checks.
    filter_types: FilterTypes
    #: Filtered searches on collections this large warn once per unindexed field.
    unindexed_filter_warning_points: int = UNINDEXED_FILTER_WARNING_POINTS

    def __init__(self) -> None:
        self._specs: dict[str, CollectionSpec] = {}
        self._checked_fields: set[tuple[str, str]] = set()
        self._spec_lock = threading.Lock()
        self._defaults = CollectionSpec()

    # ------------------------------------------------------------------ the error boundary

    def _guard(self, action: str, collection: str | None, fn: Callable[[], T]) -> T:
        """Run a backend call; its exceptions leave as the project's errors (see ``_translate``)."""
        try:
            return self._attempt(fn)
        except CollectionNotFoundError:
            self._forget(collection)
            raise
        except SpladeQdrantError:
            raise
        except Exception as exc:  # noqa: BLE001 — translated by the backend's table
            error = self._translate(exc, action, collection)
        if isinstance(error, CollectionNotFoundError):
            self._forget(collection)
        raise error

    def _attempt(self, fn: Callable[[], T]) -> T:
        """One call of ``fn``; a backend with transient failures retries here."""
        return fn()

    @abstractmethod
    def _translate(self, exc: Exception, action: str, collection: str | None) -> StoreError:
        """The project's error for a backend exception raised during ``action``."""

    def _not_found(self, name: str) -> CollectionNotFoundError:
        return CollectionNotFoundError(f"collection {name!r} does not exist in {self.describe()}")

    # ------------------------------------------------------------------ collections

    @abstractmethod
    def describe(self) -> str:
        """Where the data lives (directory or URL), for messages."""

    def list_collections(self) -> list[str]:
        """Names of existing collections, sorted."""
        return sorted(self._guard("list collections", None, self._names))

    def collection_exists(self, name: str) -> bool:
        """True if ``name`` exists."""
        return bool(self._guard("check collection", None, lambda: self._exists(name)))

    def set_creation_defaults(
        self, *, server: ServerOptions | None = None, payload_indexes: Mapping[str, PayloadType] | None = None
    ) -> None:
        """Server options and payload indexes for the collections this object creates from now on
        (a spec's own values win), e.g. from the CLI; ConfigError where the backend has no such option."""
        defaults = CollectionSpec(server=server, payload_indexes=dict(payload_indexes or {}))
        self._check_spec(defaults)
        self._defaults = defaults

    def create_collection(self, name: str, spec: CollectionSpec) -> None:
        """Create ``name`` with its payload indexes; raises CollectionExistsError if it exists."""
        spec = with_defaults(spec, self._defaults)
        self._check_spec(spec)
        if self.collection_exists(name):
            raise CollectionExistsError(f"collection {name!r} already exists in {self.describe()}")
        self._forget(name)
        self._guard(f"create collection {name!r}", None, lambda: self._create(name, spec))
        for field_name, kind in spec.payload_indexes.items():
            self.create_index(name, field_name, kind)

    def delete_collection(self, name: str) -> None:
        """Delete ``name`` and its data; raises CollectionNotFoundError if missing."""
        if not self.collection_exists(name):
            raise self._not_found(name)
        self._forget(name)
        self._guard(f"delete collection {name!r}", name, lambda: self._drop(name))

    def spec(self, name: str) -> CollectionSpec:
        """The collection's configuration as the engine reports it now (metadata included)."""
        spec = self._guard(f"read collection {name!r}", name, lambda: self._read_spec(name))
        with self._spec_lock:
            self._specs[name] = spec
        return spec

    def metadata(self, name: str) -> dict[str, Any]:
        """The metadata recorded at creation (or last :meth:`set_metadata`)."""
        return dict(self.spec(name).metadata)

    def set_metadata(self, name: str, metadata: Mapping[str, Any]) -> None:
        """Replace the recorded metadata."""
        self._guard(f"update collection {name!r}", name, lambda: self._write_metadata(name, dict(metadata)))
        self._forget(name)

    def create_index(self, name: str, field_name: str, kind: PayloadType = "keyword") -> None:
        """Index payload field ``field_name`` as ``kind`` (idempotent); filtered search needs it at scale."""
        check_index(field_name, kind)
        self._guard(f"index field {field_name!r} of collection {name!r}", name, lambda: self._index(name, field_name, kind))
        self._forget(name)

    def _cached_spec(self, name: str) -> CollectionSpec:
        """The spec read once per collection (refreshed by :meth:`spec`, dropped on create/delete)."""
        with self._spec_lock:
            spec = self._specs.get(name)
        return spec if spec is not None else self.spec(name)

    def _forget(self, name: str | None) -> None:
        with self._spec_lock:
            self._specs.pop(name, None)  # type: ignore[arg-type]

    def _check_spec(self, spec: CollectionSpec) -> None:
        """Refuse what this backend cannot create (ConfigError)."""

    # ------------------------------------------------------------------ points

    def upsert(self, name: str, points: Sequence[PointRecord], *, insert_only: bool = False) -> None:
        """Write points; durable when this returns. ``insert_only`` never overwrites."""
        if not points:
            return
        spec = self._cached_spec(name)
        rows = [(p.id, self._named_vectors(name, spec, p), dict(p.payload)) for p in points]
        self._guard(f"write to collection {name!r}", name, lambda: self._write(name, rows, insert_only))

    def _named_vectors(self, name: str, spec: CollectionSpec, p: PointRecord) -> dict[str, Any]:
        vectors: dict[str, Any] = {spec.sparse_name: self._sparse(p.sparse)}
        if p.dense is not None:
            if spec.dense is None:
                raise ConfigError(f"collection {name!r} has no dense vector; recreate it with a dense model")
            dense = np.asarray(p.dense, dtype=np.float32).reshape(-1)
            if dense.size != spec.dense.size:
                raise ConfigError(f"collection {name!r} stores {spec.dense.size}-d dense vectors, got {dense.size}-d")
            vectors[spec.dense.name] = dense.tolist()
        return vectors

    def delete(self, name: str, ids: Sequence[str]) -> None:
        """Delete points by id (missing ids are ignored); durable when this returns."""
        if ids:
            self._guard(f"delete from collection {name!r}", name, lambda: self._delete_points(name, list(ids)))

    def count(self, name: str) -> int:
        """Exact number of points."""
        return int(self._guard(f"count collection {name!r}", name, lambda: self._count(name)))

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        """Points by id (missing ids are skipped), in no particular order."""
        if not ids:
            return []
        rows = self._guard(f"read collection {name!r}", name, lambda: self._retrieve(name, list(ids), with_vectors))
        return [self._stored(r) for r in rows]

    def scroll(
        self, name: str, *, limit: int, offset: str | None = None, with_vectors: bool = True
    ) -> tuple[list[StoredPoint], str | None]:
        """Up to ``limit`` points in id order from id ``offset`` (None: the first), and the next offset.

        The next offset is None after the last page; pass it back to continue, so a loop over
        pages visits every point once.
        """
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        rows, nxt = self._guard(f"read collection {name!r}", name, lambda: self._scroll(name, limit, offset, with_vectors))
        return [self._stored(r) for r in rows], None if nxt is None else str(nxt)

    def iter_points(self, name: str, *, batch_size: int = 1000, with_vectors: bool = False) -> Iterator[StoredPoint]:
        """Every point of ``name`` in id order, read ``batch_size`` at a time with :meth:`scroll`.

        Used by ``ingest(delete_missing=True)`` to find documents no longer in the source.
        """
        offset: str | None = None
        while True:
            page, offset = self.scroll(name, limit=batch_size, offset=offset, with_vectors=with_vectors)
            yield from page
            if offset is None:
                return

    def _stored(self, point: Any) -> StoredPoint:
        """A backend's record or scored point (``id``, ``payload``, ``vector``, ``score``) as a StoredPoint."""
        sparse = dense = None
        vectors = getattr(point, "vector", None)
        if isinstance(vectors, Mapping):
            for value in vectors.values():
                pair = self._sparse_arrays(value)
                if pair is not None:
                    sparse = SparseVector.from_arrays(*pair)
                elif value is not None:
                    dense = np.asarray(value, dtype=np.float32)
        return StoredPoint(str(point.id), float(getattr(point, "score", 0.0) or 0.0), dict(point.payload or {}), sparse, dense)

    # ------------------------------------------------------------------ queries

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
        """Run one query; results best first."""
        (rows,) = self.query_batch(
            name, [query], limit=limit, offset=offset, score_threshold=score_threshold, filter=filter, with_vectors=with_vectors
        )
        return rows

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
        """Run several queries with the same options; one list of results per query, best first."""
        native = self._native_filter(filter)
        if not queries:
            return []
        self._warn_unindexed(name, filter)
        requests = [SearchRequest(normal_query(q), limit, offset, score_threshold, native, with_vectors) for q in queries]
        rows = self._guard(f"query collection {name!r}", name, lambda: self._search(name, requests))
        return [[self._stored(p) for p in r] for r in rows]

    def _native_filter(self, filt: Filter | None) -> Any:
        return native_filter(filt, self.filter_types, self.kind)

    def _warn_unindexed(self, name: str, filt: Filter | None) -> None:
        """Warn once per (collection, field) about simple-filter fields without a payload index."""
        if not isinstance(filt, Mapping) or not filt:
            return
        with self._spec_lock:
            fresh = [k for k in filt if (name, k) not in self._checked_fields]
            self._checked_fields.update((name, k) for k in fresh)
        if not fresh:
            return
        indexed = self._cached_spec(name).payload_indexes
        unindexed = [k for k in fresh if k not in indexed]
        if unindexed and self.count(name) >= self.unindexed_filter_warning_points:
            for key in unindexed:
                logger.warning(
                    "collection %r: filter on payload field %r, which has no index; filtered search on a "
                    "large collection scans payloads; add one with --index-field %s[:type] or create_index()",
                    name, key, key,
                )

    # ------------------------------------------------------------------ the backend's hooks

    @abstractmethod
    def _names(self) -> list[str]: ...

    @abstractmethod
    def _exists(self, name: str) -> bool: ...

    @abstractmethod
    def _create(self, name: str, spec: CollectionSpec) -> None: ...

    @abstractmethod
    def _drop(self, name: str) -> None: ...

    @abstractmethod
    def _read_spec(self, name: str) -> CollectionSpec: ...

    @abstractmethod
    def _write_metadata(self, name: str, metadata: dict[str, Any]) -> None: ...

    @abstractmethod
    def _index(self, name: str, field_name: str, kind: PayloadType) -> None: ...

    @abstractmethod
    def _sparse(self, vector: SparseVector) -> Any:
        """A sparse vector as the backend's value type."""

    @abstractmethod
    def _sparse_arrays(self, value: Any) -> tuple[Any, Any] | None:
        """``(indices, values)`` if ``value`` is the backend's sparse vector, else None."""

    @abstractmethod
    def _write(self, name: str, rows: list[tuple[str, dict[str, Any], dict[str, Any]]], insert_only: bool) -> None:
        """Write ``(id, named vectors, payload)`` rows; sparse vectors are already ``_sparse`` values."""

    @abstractmethod
    def _delete_points(self, name: str, ids: list[str]) -> None: ...

    @abstractmethod
    def _count(self, name: str) -> int: ...

    @abstractmethod
    def _retrieve(self, name: str, ids: list[str], with_vectors: bool) -> Sequence[Any]: ...

    @abstractmethod
    def _scroll(self, name: str, limit: int, offset: str | None, with_vectors: bool) -> tuple[Sequence[Any], Any]: ...

    @abstractmethod
    def _search(self, name: str, requests: list[SearchRequest]) -> Sequence[Sequence[Any]]: ...

    def optimize(self, name: str) -> None:
        """Merge and index segments after a bulk load (no-op where the server does it)."""

    @abstractmethod
    def close(self) -> None:
        """Release files, locks and connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
