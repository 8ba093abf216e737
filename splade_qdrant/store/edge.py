"""The embedded default store: Qdrant Edge (``qdrant-edge-py``), Qdrant's engine in-process.

Layout on disk, one folder per collection under the store directory::

    STORE_DIR/
      COLLECTION/
        splade_qdrant.json   # vector configuration + metadata (encoder fingerprint)
        shard/               # the Qdrant Edge shard (segments + WAL)

Qdrant Edge locks a shard's WAL: a second process opening the same collection gets a
:class:`~splade_qdrant.errors.StoreUnavailableError`, never a corrupted store. After a crash
the WAL is replayed on the next open, so every acknowledged upsert survives. A collection is
built in a hidden ``.creating-*`` folder and renamed into place with its metadata, so it
appears whole or not at all, and two processes creating it at once cannot clobber each other.

Example:
    >>> import tempfile
    >>> from splade_qdrant.sparse import SparseVector
    >>> with EdgeStore(tempfile.mkdtemp()) as store:
    ...     store.create_collection("docs", CollectionSpec())
    ...     p = PointRecord("5f0e6c1c-0000-5000-8000-000000000001", SparseVector.from_dict({3: 1.0}), {"doc_id": "a"})
    ...     store.upsert("docs", [p])
    ...     hits = store.query("docs", SparseQuery(SparseVector.from_dict({3: 2.0}), "splade"), limit=5)
    >>> [(h.payload["doc_id"], h.score) for h in hits]
    [('a', 2.0)]
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

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

__all__ = ["EdgeStore"]

_META_FILE = "splade_qdrant.json"
_SHARD_DIR = "shard"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_DISTANCES = {"cosine": qe.Distance.Cosine, "dot": qe.Distance.Dot, "euclid": qe.Distance.Euclid}
_DATATYPES = {
    "float32": qe.VectorStorageDatatype.Float32,
    "float16": qe.VectorStorageDatatype.Float16,
    "uint8": qe.VectorStorageDatatype.Uint8,
}


@contextmanager
def _translated(action: str, where: Path) -> Iterator[None]:
    """Turn Qdrant Edge's generic exceptions into the project's error tree."""
    try:
        yield
    except (StoreError, ConfigError):
        raise
    except OSError as exc:
        raise StoreUnavailableError(f"cannot {action}: {where} {_os_reason(exc.errno, exc.strerror or str(exc))}") from None
    except Exception as exc:  # noqa: BLE001 — the binding raises plain Exception
        text = str(exc)
        if "WouldBlock" in text or "lock" in text.lower():
            raise StoreUnavailableError(
                f"cannot {action}: {where} is in use by another process (Qdrant Edge locks its files); "
                "stop that process or use another --store directory"
            ) from None
        for code, marker in _OS_MARKERS.items():
            if marker in text:
                raise StoreUnavailableError(f"cannot {action}: {where} {_os_reason(code, marker)}") from None
        raise StoreError(f"cannot {action} in {where}: {text}") from None


_OS_MARKERS = {
    errno.EACCES: "Permission denied",
    errno.EROFS: "Read-only file system",
    errno.ENOSPC: "No space left on device",
    errno.ENOTDIR: "Not a directory",
}


def _os_reason(code: int | None, text: str) -> str:
    """Why a path is unusable, in words a user can act on."""
    if code in (errno.EACCES, errno.EPERM):
        return f"is not writable ({text}); use a --store directory you can write to"
    if code == errno.EROFS:
        return "is on a read-only file system; use another --store directory"
    if code == errno.ENOSPC:
        return "is on a full disk (no space left on device); free space or use another --store directory"
    if code in (errno.ENOTDIR, errno.EEXIST):
        return f"cannot be a directory: part of the path is a file ({text}); use another --store directory"
    return f"is not usable ({text})"


def _to_edge_filter(filt: Filter | None) -> qe.Filter | None:
    if filt is None or isinstance(filt, qe.Filter):
        return filt
    if not isinstance(filt, Mapping):
        raise ConfigError(
            f"the embedded store takes a dict filter or a qdrant_edge.Filter, got {type(filt).__name__}"
        )
    must: list[Any] = []
    for key, value in simple_filter_items(filt):
        match = qe.MatchAny(any=value) if isinstance(value, list) else qe.MatchValue(value=value)
        must.append(qe.FieldCondition(key=key, match=match))
    return qe.Filter(must=must) if must else None


def _edge_sparse(vec: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(vec.indices.tolist(), vec.values.tolist())


def _edge_query(q: SparseQuery | DenseQuery) -> Any:
    if isinstance(q, SparseQuery):
        return qe.Query.Nearest(_edge_sparse(q.vector), using=q.using)
    return qe.Query.Nearest(np.asarray(q.vector, dtype=np.float32).tolist(), using=q.using)


def _stored(point: Any) -> StoredPoint:
    sparse = dense = None
    vectors = getattr(point, "vector", None)
    if isinstance(vectors, dict):
        for value in vectors.values():
            if isinstance(value, qe.SparseVector):
                sparse = SparseVector.from_arrays(value.indices, value.values)
            elif value is not None:
                dense = np.asarray(value, dtype=np.float32)
    return StoredPoint(str(point.id), float(getattr(point, "score", 0.0)), dict(point.payload or {}), sparse, dense)


class EdgeStore(Store):
    """Collections stored as Qdrant Edge shards under one directory.

    Args:
        path: the store directory (created on first write).
        max_search_threads: threads of each shard's search pool (None: one per CPU).
        indexing_threshold_kb: Qdrant's indexing threshold for collections this object creates
            (None: Qdrant's default). Below it a segment keeps a mutable float32 index whatever
            the sparse datatype; 1 builds the typed index for every segment on optimize().
    """

    kind = "edge"

    def __init__(self, path: str | os.PathLike[str], *, max_search_threads: int | None = None, indexing_threshold_kb: int | None = None) -> None:
        self.root = Path(path).expanduser().resolve()
        self._indexing_threshold_kb = indexing_threshold_kb
        if self.root.exists() and not self.root.is_dir():
            raise StoreUnavailableError(f"store path {self.root} exists and is not a directory")
        self._threads = max_search_threads
        self._shards: dict[str, qe.EdgeShard] = {}
        self._lock = threading.RLock()

    def describe(self) -> str:
        return f"embedded Qdrant Edge store at {self.root}"

    def _dir(self, name: str) -> Path:
        if not _NAME_RE.match(name):
            raise ConfigError(
                f"invalid collection name {name!r}: use letters, digits, '_', '-' or '.', starting with a letter or digit"
            )
        return self.root / name

    def _read_meta(self, name: str) -> dict[str, Any]:
        meta_path = self._dir(name) / _META_FILE
        if not meta_path.is_file():
            raise CollectionNotFoundError(f"collection {name!r} does not exist in {self.describe()}")
        return json.loads(meta_path.read_text(encoding="utf-8"))

    def _write_meta(self, name: str, data: Mapping[str, Any]) -> None:
        target = self._dir(name) / _META_FILE
        tmp = target.with_suffix(".json.tmp")
        with _translated("write collection metadata", target.parent):
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
            os.replace(tmp, target)

    def _edge_config(self, spec: CollectionSpec) -> qe.EdgeConfig:
        sparse = qe.EdgeSparseVectorParams(
            modifier=qe.Modifier.Idf if spec.idf else None,
            datatype=_DATATYPES[spec.sparse_datatype],
        )
        vectors: dict[str, qe.EdgeVectorParams] = {}
        if spec.dense is not None:
            vectors[spec.dense.name] = qe.EdgeVectorParams(size=spec.dense.size, distance=_DISTANCES[spec.dense.distance])
        # Segments below the indexing threshold stay mutable (float32 weights whatever the
        # datatype); optimize() builds the typed, immutable index once they pass it.
        optimizers = None if self._indexing_threshold_kb is None else qe.EdgeOptimizersConfig(indexing_threshold=self._indexing_threshold_kb)
        return qe.EdgeConfig(vectors=vectors, sparse_vectors={spec.sparse_name: sparse}, max_search_threads=self._threads, optimizers=optimizers)

    def _shard(self, name: str) -> qe.EdgeShard:
        with self._lock:
            shard = self._shards.get(name)
            if shard is None:
                self._read_meta(name)  # raises CollectionNotFoundError
                shard_dir = self._dir(name) / _SHARD_DIR
                with _translated(f"open collection {name!r}", shard_dir):
                    shard = qe.EdgeShard.load(str(shard_dir))
                self._shards[name] = shard
            return shard

    def list_collections(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if _NAME_RE.match(p.name) and (p / _META_FILE).is_file())

    def collection_exists(self, name: str) -> bool:
        return (self._dir(name) / _META_FILE).is_file()

    def create_collection(self, name: str, spec: CollectionSpec) -> None:
        folder = self._dir(name)
        exists = CollectionExistsError(f"collection {name!r} already exists in {self.describe()}")
        with self._lock:
            if self.collection_exists(name):
                raise exists
            # Build the whole collection in a private folder, then rename it into place: other
            # processes see it complete (metadata included) or not at all.
            staging = self.root / f".creating-{name}-{uuid.uuid4().hex[:12]}"
            action = f"create collection {name!r}"
            try:
                with _translated(action, self.root):
                    staging.mkdir(parents=True)
                    qe.EdgeShard.create(str(staging / _SHARD_DIR), self._edge_config(spec)).close()
                    meta = {"spec": spec_to_json(spec), "metadata": dict(spec.metadata)}
                    (staging / _META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
                with _translated(action, folder):
                    self._move_into_place(staging, folder, exists)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            with _translated(f"open collection {name!r}", folder / _SHARD_DIR):
                self._shards[name] = qe.EdgeShard.load(str(folder / _SHARD_DIR))

    def _move_into_place(self, staging: Path, folder: Path, exists: CollectionExistsError) -> None:
        try:
            os.rename(staging, folder)  # atomic; replaces only a missing or empty folder
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            if (folder / _META_FILE).is_file():  # another process created it first
                raise exists from None
            shutil.rmtree(folder)  # debris of a delete interrupted after its metadata went
            os.rename(staging, folder)

    def delete_collection(self, name: str) -> None:
        with self._lock:
            self._read_meta(name)
            shard = self._shards.pop(name, None)
            if shard is None:  # not open here: make sure no other process has it open
                try:
                    with _translated(f"delete collection {name!r}", self._dir(name)):
                        shard = qe.EdgeShard.load(str(self._dir(name) / _SHARD_DIR))
                except StoreUnavailableError:
                    raise
                except StoreError:
                    shard = None  # unreadable shard: delete it anyway
            if shard is not None:
                shard.close()
            with _translated(f"delete collection {name!r}", self._dir(name)):
                (self._dir(name) / _META_FILE).unlink()
                shutil.rmtree(self._dir(name))

    def metadata(self, name: str) -> dict[str, Any]:
        return dict(self._read_meta(name).get("metadata", {}))

    def set_metadata(self, name: str, metadata: Mapping[str, Any]) -> None:
        with self._lock:
            data = self._read_meta(name)
            data["metadata"] = dict(metadata)
            self._write_meta(name, data)

    def spec(self, name: str) -> CollectionSpec:
        data = self._read_meta(name)
        return spec_from_json(data["spec"], data.get("metadata", {}))

    def upsert(self, name: str, points: Sequence[PointRecord], *, insert_only: bool = False) -> None:
        if not points:
            return
        spec = self.spec(name)
        edge_points = []
        for p in points:
            vector: dict[str, Any] = {spec.sparse_name: _edge_sparse(p.sparse)}
            if p.dense is not None:
                if spec.dense is None:
                    raise ConfigError(f"collection {name!r} has no dense vector; recreate it with a dense model")
                vector[spec.dense.name] = np.asarray(p.dense, dtype=np.float32).tolist()
            edge_points.append(qe.Point(p.id, vector, dict(p.payload)))
        mode = qe.UpdateMode.InsertOnly if insert_only else None
        shard = self._shard(name)
        with _translated(f"write to collection {name!r}", self._dir(name)):
            shard.update(qe.UpdateOperation.upsert_points(edge_points, update_mode=mode))

    def delete(self, name: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        shard = self._shard(name)
        with _translated(f"delete from collection {name!r}", self._dir(name)):
            shard.update(qe.UpdateOperation.delete_points(list(ids)))

    def count(self, name: str) -> int:
        shard = self._shard(name)
        with _translated(f"count collection {name!r}", self._dir(name)):
            return int(shard.count(qe.CountRequest(exact=True)))

    def scroll(self, name: str, *, batch_size: int = 1000) -> Iterator[StoredPoint]:
        shard = self._shard(name)
        offset: Any = None
        while True:
            with _translated(f"read collection {name!r}", self._dir(name)):
                records, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=batch_size, with_payload=True, with_vector=False))
            yield from (_stored(r) for r in records)
            if offset is None:
                return

    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        if not ids:
            return []
        shard = self._shard(name)
        with _translated(f"read collection {name!r}", self._dir(name)):
            records = shard.retrieve(list(ids), with_payload=True, with_vector=with_vectors)
        return [_stored(r) for r in records]

    def _request(
        self,
        query: Query,
        *,
        limit: int,
        offset: int,
        score_threshold: float | None,
        filter: Filter | None,
        with_vectors: bool,
    ) -> qe.QueryRequest:
        edge_filter = _to_edge_filter(filter)
        common: dict[str, Any] = {
            "limit": limit,
            "offset": offset,
            "filter": edge_filter,
            "score_threshold": score_threshold,
            "with_payload": True,
            "with_vector": with_vectors,
        }
        if isinstance(query, FusedQuery):
            prefetches = [qe.Prefetch(limit=query.prefetch_limit, query=_edge_query(q), filter=edge_filter) for q in query.prefetch]
            if query.method == "rrf":
                weights = None if query.weights is None else [float(w) for w in query.weights]
                fusion: Any = qe.Fusion.Rrf(k=int(query.k), weights=weights)
            else:
                fusion = qe.Fusion.Dbsf()
            return qe.QueryRequest(query=fusion, prefetches=prefetches, **common)
        return qe.QueryRequest(query=_edge_query(query), **common)

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
        request = self._request(
            query, limit=limit, offset=offset, score_threshold=score_threshold, filter=filter, with_vectors=with_vectors
        )
        shard = self._shard(name)
        with _translated(f"query collection {name!r}", self._dir(name)):
            return [_stored(p) for p in shard.query(request)]

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
        requests = [
            self._request(q, limit=limit, offset=offset, score_threshold=score_threshold, filter=filter, with_vectors=with_vectors)
            for q in queries
        ]
        if not requests:
            return []
        shard = self._shard(name)
        with _translated(f"query collection {name!r}", self._dir(name)):
            results = shard.query_batch(qe.QueryBatchRequest(requests))
        return [[_stored(p) for p in rows] for rows in results]

    def optimize(self, name: str) -> None:
        shard = self._shard(name)
        with _translated(f"optimize collection {name!r}", self._dir(name)):
            shard.optimize()

    def close(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
