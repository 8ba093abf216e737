"""The store interface: what ingest and search need from a Qdrant backend, nothing more.

Backends (:mod:`.edge` for the embedded Qdrant Edge engine, :mod:`.remote` for qdrant-client)
implement :class:`Store`. Ingest and search code talk only to this interface and the plain
value types below; backend objects never leak out.

Filters are either a *simple filter* — ``{"key": value}`` for equality or
``{"key": [v1, v2]}`` for any-of, all keys must match — or the backend's native filter
object (``qdrant_edge.Filter`` on Edge, ``qdrant_client.models.Filter`` on qdrant-client).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import numpy as np

from ..errors import ConfigError
from ..sparse import SparseVector

__all__ = [
    "CollectionSpec",
    "DenseQuery",
    "DenseSpec",
    "Filter",
    "FusedQuery",
    "PointRecord",
    "Query",
    "SparseQuery",
    "Store",
    "StoredPoint",
    "simple_filter_items",
    "spec_from_json",
    "spec_to_json",
]

Distance = Literal["cosine", "dot", "euclid"]
SparseDatatype = Literal["float32", "float16", "uint8"]
Scalar = Union[str, int, bool]
Filter = Union[Mapping[str, Union[Scalar, Sequence[Scalar]]], Any]


@dataclass(frozen=True)
class DenseSpec:
    """A named dense vector in each point."""

    name: str
    size: int
    distance: Distance = "cosine"


@dataclass(frozen=True)
class CollectionSpec:
    """What a new collection holds.

    Attributes:
        sparse_name: name of the SPLADE sparse vector.
        sparse_datatype: storage type of sparse weights (float16/uint8 shrink the index).
        idf: apply Qdrant's IDF modifier (wrong for SPLADE; only when forced).
        dense: optional dense vector beside the sparse one.
        metadata: JSON-able dict recorded with the collection (the encoder fingerprint).
    """

    sparse_name: str = "splade"
    sparse_datatype: SparseDatatype = "float32"
    idf: bool = False
    dense: DenseSpec | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class PointRecord:
    """A point to write: a UUID string id, vectors and a JSON-able payload."""

    id: str
    sparse: SparseVector
    payload: Mapping[str, Any]
    dense: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class StoredPoint:
    """A point read back: id, score (0.0 for plain retrieval), payload, optional vectors."""

    id: str
    score: float
    payload: dict[str, Any]
    sparse: SparseVector | None = None
    dense: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class SparseQuery:
    """Nearest points by dot product with a sparse vector named ``using``."""

    vector: SparseVector
    using: str


@dataclass(frozen=True, eq=False)
class DenseQuery:
    """Nearest points by the dense vector named ``using``."""

    vector: np.ndarray
    using: str


@dataclass(frozen=True, eq=False)
class FusedQuery:
    """Several prefetches fused in the engine.

    ``k`` is the *engine's* RRF constant (both engines rank from 0, so the literature's
    ``1/(60 + rank)`` with rank from 1 is ``k = 61`` here); ``weights`` weight each prefetch.
    """

    prefetch: Sequence[SparseQuery | DenseQuery]
    method: Literal["rrf", "dbsf"]
    prefetch_limit: int
    k: int = 61
    weights: Sequence[float] | None = None


Query = Union[SparseQuery, DenseQuery, FusedQuery]


def spec_to_json(spec: CollectionSpec) -> dict[str, Any]:
    """The vector configuration of ``spec`` as JSON (metadata excluded)."""
    dense = None if spec.dense is None else {"name": spec.dense.name, "size": spec.dense.size, "distance": spec.dense.distance}
    return {"sparse_name": spec.sparse_name, "sparse_datatype": spec.sparse_datatype, "idf": spec.idf, "dense": dense}


def spec_from_json(data: Mapping[str, Any], metadata: Mapping[str, Any]) -> CollectionSpec:
    """Inverse of :func:`spec_to_json`, with the recorded metadata attached."""
    dense = data.get("dense")
    return CollectionSpec(
        sparse_name=data["sparse_name"],
        sparse_datatype=data.get("sparse_datatype", "float32"),
        idf=bool(data.get("idf", False)),
        dense=None if dense is None else DenseSpec(dense["name"], int(dense["size"]), dense.get("distance", "cosine")),
        metadata=dict(metadata),
    )


def simple_filter_items(filt: Mapping[str, Any]) -> list[tuple[str, Scalar | list[Scalar]]]:
    """Validate a simple filter and return ``(key, value_or_values)`` pairs.

    >>> simple_filter_items({"lang": "en", "year": [2020, 2021]})
    [('lang', 'en'), ('year', [2020, 2021])]
    """
    items: list[tuple[str, Scalar | list[Scalar]]] = []
    for key, value in filt.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"filter keys must be non-empty strings, got {key!r}")
        if isinstance(value, (list, tuple, set, frozenset)):
            values = list(value)
            if not values or not all(isinstance(v, (str, int)) and not isinstance(v, float) for v in values):
                raise ConfigError(f"filter {key!r}: any-of needs a non-empty list of strings or integers")
            items.append((key, values))
        elif isinstance(value, (str, int, bool)):
            items.append((key, value))
        else:
            raise ConfigError(f"filter {key!r}: value must be a string, integer, boolean or list, got {value!r}")
    return items


class Store(ABC):
    """A Qdrant backend holding named collections."""

    #: Short backend name for reports ("edge", "qdrant-client").
    kind: str = ""

    @abstractmethod
    def describe(self) -> str:
        """Where the data lives (directory or URL), for messages."""

    @abstractmethod
    def list_collections(self) -> list[str]:
        """Names of existing collections."""

    @abstractmethod
    def collection_exists(self, name: str) -> bool:
        """True if ``name`` exists."""

    @abstractmethod
    def create_collection(self, name: str, spec: CollectionSpec) -> None:
        """Create ``name``; raises CollectionExistsError if it exists."""

    @abstractmethod
    def delete_collection(self, name: str) -> None:
        """Delete ``name`` and its data; raises CollectionNotFoundError if missing."""

    @abstractmethod
    def metadata(self, name: str) -> dict[str, Any]:
        """The metadata recorded at creation (or last :meth:`set_metadata`)."""

    @abstractmethod
    def set_metadata(self, name: str, metadata: Mapping[str, Any]) -> None:
        """Replace the recorded metadata."""

    @abstractmethod
    def spec(self, name: str) -> CollectionSpec:
        """The collection's vector configuration (metadata included)."""

    @abstractmethod
    def upsert(self, name: str, points: Sequence[PointRecord], *, insert_only: bool = False) -> None:
        """Write points; durable when this returns. ``insert_only`` never overwrites."""

    @abstractmethod
    def delete(self, name: str, ids: Sequence[str]) -> None:
        """Delete points by id (missing ids are ignored); durable when this returns."""

    @abstractmethod
    def count(self, name: str) -> int:
        """Exact number of points."""

    def scroll(self, name: str, *, batch_size: int = 1000) -> Iterator[StoredPoint]:
        """Every point of ``name`` with its payload (no vectors), read ``batch_size`` at a time.

        Used by ``ingest(delete_missing=True)`` to find documents no longer in the source.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot list its points")

    @abstractmethod
    def retrieve(self, name: str, ids: Sequence[str], *, with_vectors: bool = False) -> list[StoredPoint]:
        """Points by id (missing ids are skipped), in no particular order."""

    @abstractmethod
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
        """Run several queries; the default runs them one by one."""
        return [
            self.query(
                name,
                q,
                limit=limit,
                offset=offset,
                score_threshold=score_threshold,
                filter=filter,
                with_vectors=with_vectors,
            )
            for q in queries
        ]

    def optimize(self, name: str) -> None:  # noqa: B027 — optional hook
        """Merge and index segments after a bulk load (no-op where the server does it)."""

    @abstractmethod
    def close(self) -> None:
        """Release files, locks and connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
