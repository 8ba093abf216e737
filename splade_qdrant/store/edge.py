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
Payload indexes are the shard's own field indexes; server options (shards, replicas …) are
refused: an embedded store is one local shard.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ..errors import (
    CollectionExistsError,
    ConfigError,
    StoreError,
    StoreUnavailableError,
)
from ..sparse import SparseVector
from ._edge_faults import edge_error, os_error
from .base import (  # noqa: F401 — PointRecord: doctest
    CollectionSpec,
    PayloadType,
    PointRecord,
    Store,
    spec_from_json,
    spec_to_json,
)
from .types import FilterTypes, FusedQuery, SearchRequest, SparseQuery

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
_PAYLOAD_TYPES = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "bool": qe.PayloadSchemaType.Bool,
    "datetime": qe.PayloadSchemaType.Datetime,
    "uuid": qe.PayloadSchemaType.Uuid,
}
_PAYLOAD_NAMES = {v: k for k, v in _PAYLOAD_TYPES.items()}


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
    filter_types = FilterTypes(qe.Filter, qe.FieldCondition, qe.MatchValue, qe.MatchAny, "qdrant_edge.Filter")

    def __init__(self, path: str | os.PathLike[str], *, max_search_threads: int | None = None, indexing_threshold_kb: int | None = None) -> None:
        super().__init__()
        self.root = Path(path).expanduser().resolve()
        self._indexing_threshold_kb = indexing_threshold_kb
        if self.root.exists() and not self.root.is_dir():
            raise StoreUnavailableError(f"store path {self.root} exists and is not a directory")
        self._threads = max_search_threads
        self._shards: dict[str, qe.EdgeShard] = {}
        self._lock = threading.RLock()

    def describe(self) -> str:
        return f"embedded Qdrant Edge store at {self.root}"

    def _translate(self, exc: Exception, action: str, collection: str | None) -> StoreError:
        where = self.root if collection is None else self._dir(collection)
        return edge_error(exc, action, where)

    def _check_spec(self, spec: CollectionSpec) -> None:
        if spec.server is not None and spec.server.given():
            raise ConfigError(
                f"server options ({', '.join(spec.server.given())}) apply to Qdrant servers; the embedded store "
                "is one local shard: drop them, or use --url"
            )

    def _dir(self, name: str) -> Path:
        if not _NAME_RE.match(name):
            raise ConfigError(
                f"invalid collection name {name!r}: use letters, digits, '_', '-' or '.', starting with a letter or digit"
            )
        return self.root / name

    def _read_meta(self, name: str) -> dict[str, Any]:
        meta_path = self._dir(name) / _META_FILE
        if not meta_path.is_file():
            raise self._not_found(name)
        return json.loads(meta_path.read_text(encoding="utf-8"))

    def _edge_config(self, spec: CollectionSpec) -> qe.EdgeConfig:
        sparse = qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if spec.idf else None, datatype=_DATATYPES[spec.sparse_datatype])
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
                shard = qe.EdgeShard.load(str(self._dir(name) / _SHARD_DIR))
                self._shards[name] = shard
            return shard

    # ------------------------------------------------------------------ collection hooks

    def _names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [p.name for p in self.root.iterdir() if _NAME_RE.match(p.name) and (p / _META_FILE).is_file()]

    def _exists(self, name: str) -> bool:
        return (self._dir(name) / _META_FILE).is_file()

    def _create(self, name: str, spec: CollectionSpec) -> None:
        folder = self._dir(name)
        exists = CollectionExistsError(f"collection {name!r} already exists in {self.describe()}")
        with self._lock:
            if self._exists(name):
                raise exists
            # Build the whole collection in a private folder, then rename it into place: other
            # processes see it complete (metadata included) or not at all.
            staging = self.root / f".creating-{name}-{uuid.uuid4().hex[:12]}"
            try:
                staging.mkdir(parents=True)
                qe.EdgeShard.create(str(staging / _SHARD_DIR), self._edge_config(spec)).close()
                meta = {"spec": spec_to_json(spec), "metadata": dict(spec.metadata)}
                (staging / _META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
                self._move_into_place(staging, folder, exists)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            self._shards[name] = qe.EdgeShard.load(str(folder / _SHARD_DIR))

    def _move_into_place(self, staging: Path, folder: Path, exists: CollectionExistsError) -> None:
        try:
            os.rename(staging, folder)  # atomic; replaces only a missing or empty folder
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise os_error(exc, f"create collection {folder.name!r}", folder) from None
            if (folder / _META_FILE).is_file():  # another process created it first
                raise exists from None
            shutil.rmtree(folder)  # debris of a delete interrupted after its metadata went
            os.rename(staging, folder)

    def _drop(self, name: str) -> None:
        with self._lock:
            shard = self._shards.pop(name, None)
            if shard is None:  # not open here: make sure no other process has it open
                try:
                    shard = self._guard(f"delete collection {name!r}", name, lambda: qe.EdgeShard.load(str(self._dir(name) / _SHARD_DIR)))
                except StoreUnavailableError:
                    raise
                except StoreError:
                    shard = None  # unreadable shard: delete it anyway
            if shard is not None:
                shard.close()
            (self._dir(name) / _META_FILE).unlink()
            shutil.rmtree(self._dir(name))

    def _read_spec(self, name: str) -> CollectionSpec:
        data = self._read_meta(name)
        schema = self._shard(name).info().payload_schema
        indexes = {key: _PAYLOAD_NAMES[info.data_type] for key, info in schema.items() if info.data_type in _PAYLOAD_NAMES}
        return spec_from_json(data["spec"], data.get("metadata", {}), payload_indexes=indexes)

    def _write_metadata(self, name: str, metadata: dict[str, Any]) -> None:
        with self._lock:
            data = self._read_meta(name)
            data["metadata"] = metadata
            target = self._dir(name) / _META_FILE
            tmp = target.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
            os.replace(tmp, target)

    def _index(self, name: str, field_name: str, kind: PayloadType) -> None:
        self._shard(name).update(qe.UpdateOperation.create_field_index(field_name, _PAYLOAD_TYPES[kind]))

    # ------------------------------------------------------------------ point hooks

    def _sparse(self, vector: SparseVector) -> qe.SparseVector:
        return qe.SparseVector(vector.indices.tolist(), vector.values.tolist())

    def _sparse_arrays(self, value: Any) -> tuple[Any, Any] | None:
        return (value.indices, value.values) if isinstance(value, qe.SparseVector) else None

    def _write(self, name: str, rows: list[tuple[str, dict[str, Any], dict[str, Any]]], insert_only: bool) -> None:
        mode = qe.UpdateMode.InsertOnly if insert_only else None
        self._shard(name).update(qe.UpdateOperation.upsert_points([qe.Point(*row) for row in rows], update_mode=mode))

    def _delete_points(self, name: str, ids: list[str]) -> None:
        self._shard(name).update(qe.UpdateOperation.delete_points(ids))

    def _count(self, name: str) -> int:
        return int(self._shard(name).count(qe.CountRequest(exact=True)))

    def _retrieve(self, name: str, ids: list[str], with_vectors: bool) -> Sequence[Any]:
        return self._shard(name).retrieve(ids, with_payload=True, with_vector=with_vectors)

    def _scroll(self, name: str, limit: int, offset: str | None, with_vectors: bool) -> tuple[Sequence[Any], Any]:
        request = qe.ScrollRequest(offset=offset, limit=limit, with_payload=True, with_vector=with_vectors)
        return self._shard(name).scroll(request)

    def _search(self, name: str, requests: list[SearchRequest]) -> Sequence[Sequence[Any]]:
        shard = self._shard(name)
        return shard.query_batch(qe.QueryBatchRequest([self._edge_request(r) for r in requests]))

    def _nearest(self, q: Any) -> Any:
        vector = self._sparse(q.vector) if isinstance(q, SparseQuery) else [float(x) for x in q.vector]
        return qe.Query.Nearest(vector, using=q.using)

    def _edge_request(self, r: SearchRequest) -> qe.QueryRequest:
        q = r.query
        prefetches: list[qe.Prefetch] = []
        if isinstance(q, FusedQuery):
            prefetches = [qe.Prefetch(limit=q.prefetch_limit, query=self._nearest(p), filter=r.filter) for p in q.prefetch]
            scoring: Any = qe.Fusion.Rrf(k=q.k, weights=q.weights) if q.method == "rrf" else qe.Fusion.Dbsf()
        else:
            scoring = self._nearest(q)
        return qe.QueryRequest(
            query=scoring, prefetches=prefetches, limit=r.limit, offset=r.offset, filter=r.filter,
            score_threshold=r.score_threshold, with_payload=True, with_vector=r.with_vectors,
        )

    def optimize(self, name: str) -> None:
        self._guard(f"optimize collection {name!r}", name, lambda: self._shard(name).optimize())

    def close(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
