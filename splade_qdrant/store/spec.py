"""What a collection holds: vectors, payload indexes and server creation options.

:class:`CollectionSpec` is what :meth:`~splade_qdrant.store.base.Store.create_collection` takes
and what :meth:`~splade_qdrant.store.base.Store.spec` reads back from an existing collection.
The vector configuration and metadata are recorded as JSON with the collection
(:func:`spec_to_json`); payload indexes and server options are read back from the engine itself.

Example:
    >>> spec = CollectionSpec(payload_indexes={"year": "integer"}, server=ServerOptions(shards=6, replicas=2))
    >>> spec.server.shards, dict(spec.payload_indexes)
    (6, {'year': 'integer'})
    >>> parse_index_field("lang"), parse_index_field("year:integer")
    (('lang', 'keyword'), ('year', 'integer'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from ..config import DEFAULT_SPARSE_VECTOR
from ..errors import ConfigError

__all__ = [
    "DEFAULT_INDEX_TYPE",
    "PAYLOAD_TYPES",
    "CollectionSpec",
    "DenseSpec",
    "Distance",
    "PayloadType",
    "ServerOptions",
    "SparseDatatype",
    "parse_index_field",
    "spec_from_json",
    "spec_to_json",
    "with_defaults",
]

#: Dense vector similarity, as Qdrant names it (lower case); the one definition (dense.py imports it).
Distance = Literal["cosine", "dot", "euclid"]
SparseDatatype = Literal["float32", "float16", "uint8"]
#: Payload index schema types, as Qdrant names them (lower case).
PayloadType = Literal["keyword", "integer", "float", "bool", "datetime", "uuid"]
PAYLOAD_TYPES: tuple[str, ...] = get_args(PayloadType)
#: Type of ``--index-field FIELD`` without ``:type``.
DEFAULT_INDEX_TYPE: PayloadType = "keyword"


@dataclass(frozen=True)
class DenseSpec:
    """A named dense vector in each point."""

    name: str
    size: int
    distance: Distance = "cosine"


@dataclass(frozen=True, kw_only=True)
class ServerOptions:
    """Creation options of a collection on a Qdrant server or cluster (None: the server's default).

    Attributes:
        shards: number of shards (``shard_number``), spread over the cluster's nodes.
        replicas: copies of each shard (``replication_factor``).
        write_consistency: replicas that must acknowledge a write (``write_consistency_factor``).
        on_disk_sparse: keep the sparse inverted index on disk (memory-mapped) instead of in RAM.
        on_disk_payload: keep payloads on disk instead of in RAM.

    The embedded store has one local shard and refuses these options (ConfigError).
    """

    shards: int | None = None
    replicas: int | None = None
    write_consistency: int | None = None
    on_disk_sparse: bool | None = None
    on_disk_payload: bool | None = None

    def __post_init__(self) -> None:
        for name in ("shards", "replicas", "write_consistency"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
        if None not in (self.replicas, self.write_consistency) and self.write_consistency > self.replicas:  # type: ignore[operator]
            raise ConfigError(
                f"write_consistency ({self.write_consistency}) cannot exceed replicas ({self.replicas})"
            )

    def given(self) -> dict[str, Any]:
        """The options that are set (not None), by name.

        >>> ServerOptions(shards=2).given()
        {'shards': 2}
        """
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection holds.

    Attributes:
        sparse_name: name of the SPLADE sparse vector.
        sparse_datatype: storage type of sparse weights (float16/uint8 shrink the index).
        idf: apply Qdrant's IDF modifier (wrong for SPLADE; only when forced).
        dense: optional dense vector beside the sparse one.
        metadata: JSON-able dict recorded with the collection (the encoder fingerprint).
        payload_indexes: payload field name -> index type (see :data:`PAYLOAD_TYPES`); filtered
            search on a large collection needs an index on each filtered field.
        server: creation options for a Qdrant server (None: the server's defaults).
    """

    sparse_name: str = DEFAULT_SPARSE_VECTOR
    sparse_datatype: SparseDatatype = "float32"
    idf: bool = False
    dense: DenseSpec | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    payload_indexes: Mapping[str, PayloadType] = field(default_factory=dict)
    server: ServerOptions | None = None

    def __post_init__(self) -> None:
        for name, kind in self.payload_indexes.items():
            check_index(name, kind)

    def without_server_options(self) -> CollectionSpec:
        """This spec with ``server=None``, e.g. to recreate a server collection in the embedded store."""
        return replace(self, server=None)


def check_index(field_name: str, kind: str) -> None:
    """Raise ConfigError unless ``field_name`` is a non-empty string and ``kind`` a payload type."""
    if not isinstance(field_name, str) or not field_name:
        raise ConfigError(f"a payload index needs a non-empty field name, got {field_name!r}")
    if kind not in PAYLOAD_TYPES:
        raise ConfigError(f"payload index {field_name!r}: type must be one of {', '.join(PAYLOAD_TYPES)}, got {kind!r}")


def parse_index_field(text: str) -> tuple[str, PayloadType]:
    """``FIELD`` or ``FIELD:TYPE`` (the CLI's ``--index-field``) as ``(field, type)``.

    >>> parse_index_field("meta.year:integer")
    ('meta.year', 'integer')
    """
    name, sep, kind = text.rpartition(":")
    if not sep:
        name, kind = text, DEFAULT_INDEX_TYPE
    check_index(name, kind)
    return name, kind  # type: ignore[return-value]


def with_defaults(spec: CollectionSpec, defaults: CollectionSpec) -> CollectionSpec:
    """``spec`` with the server options and payload indexes of ``defaults`` where it sets none.

    >>> base = CollectionSpec(payload_indexes={"lang": "keyword"}, server=ServerOptions(shards=3))
    >>> got = with_defaults(CollectionSpec(payload_indexes={"year": "integer"}), base)
    >>> got.server.shards, sorted(got.payload_indexes)
    (3, ['lang', 'year'])
    """
    server = spec.server if spec.server is not None else defaults.server
    return replace(spec, server=server, payload_indexes={**defaults.payload_indexes, **spec.payload_indexes})


def spec_to_json(spec: CollectionSpec) -> dict[str, Any]:
    """The vector configuration of ``spec`` as JSON (metadata, indexes and server options excluded)."""
    dense = None if spec.dense is None else {"name": spec.dense.name, "size": spec.dense.size, "distance": spec.dense.distance}
    return {"sparse_name": spec.sparse_name, "sparse_datatype": spec.sparse_datatype, "idf": spec.idf, "dense": dense}


def spec_from_json(
    data: Mapping[str, Any],
    metadata: Mapping[str, Any],
    *,
    payload_indexes: Mapping[str, PayloadType] | None = None,
    server: ServerOptions | None = None,
) -> CollectionSpec:
    """Inverse of :func:`spec_to_json`, with what the engine reports attached."""
    dense = data.get("dense")
    return CollectionSpec(
        sparse_name=data["sparse_name"],
        sparse_datatype=data.get("sparse_datatype", "float32"),
        idf=bool(data.get("idf", False)),
        dense=None if dense is None else DenseSpec(dense["name"], int(dense["size"]), dense.get("distance", "cosine")),
        metadata=dict(metadata),
        payload_indexes=dict(payload_indexes or {}),
        server=server,
    )
