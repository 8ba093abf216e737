"""Validation before anything is written: ingest options, and the target collection.

A new collection is created only when its first batch is encoded (:class:`Target`), so an
ingest that fails before that — a bad first line, an encoder crash — leaves nothing behind
and a corrected rerun may use other settings. An existing collection is checked first:
every setting that would otherwise be silently ignored (document and query encoders, sparse
datatype, IDF modifier, dense encoder) must match what it recorded, or the ingest is
refused with the reason.

Example:
    >>> check_options(chunk_size=512, upsert_batch=256, sparse_datatype="uint8")
    >>> check_options(chunk_size=0, upsert_batch=256, sparse_datatype=None)
    Traceback (most recent call last):
    ...
    splade_qdrant.errors.ConfigError: chunk_size and upsert_batch must be >= 1
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import fingerprint
from ..config import DEFAULT_SPARSE_VECTOR
from ..dense import DenseEncoderLike
from ..errors import CollectionExistsError, ConfigError, FingerprintMismatchError
from ..store.base import CollectionSpec, DenseSpec, SparseDatatype, Store
from ..store.spec import PayloadType, ServerOptions

if TYPE_CHECKING:
    from ..pair import EncoderPair

__all__ = ["SPARSE_DATATYPES", "Target", "check_creation_options", "check_existing", "check_options", "new_spec"]

SPARSE_DATATYPES: tuple[str, ...] = ("float32", "float16", "uint8")
_SERVER_DEFAULT = "the server's default"


def check_options(*, chunk_size: int, upsert_batch: int, sparse_datatype: str | None) -> None:
    """Refuse option values no ingest can use."""
    if chunk_size < 1 or upsert_batch < 1:
        raise ConfigError("chunk_size and upsert_batch must be >= 1")
    if sparse_datatype is not None and sparse_datatype not in SPARSE_DATATYPES:
        raise ConfigError(f"sparse_datatype must be one of {SPARSE_DATATYPES}, got {sparse_datatype!r}")


def new_spec(pair: EncoderPair, dense: DenseEncoderLike | None, *, sparse_datatype: SparseDatatype | None, idf: bool | None) -> CollectionSpec:
    """The spec (and fingerprint) of a collection created by this ingest."""
    dense_spec = None if dense is None else DenseSpec("dense", int(dense.dim), dense.distance)  # type: ignore[arg-type]
    return CollectionSpec(
        sparse_datatype=sparse_datatype or "float32",
        idf=bool(idf),
        dense=dense_spec,
        metadata=fingerprint.build(pair.settings(), sparse_vector=DEFAULT_SPARSE_VECTOR, dense=None if dense is None else dense.settings()),
    )


def _query_diff(was: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    moved_ok = fingerprint.same_model(was, now)  # a moved or copied model (same content) is the same model
    return (["model"] if was.get("model") and not moved_ok else []) + fingerprint.query_setting_diff(was, now)


def check_existing(
    spec: CollectionSpec,
    collection: str,
    pair: EncoderPair,
    dense: DenseEncoderLike | None,
    *,
    sparse_datatype: SparseDatatype | None,
    idf: bool | None,
) -> None:
    """Refuse an ingest into ``collection`` whose settings differ from what it recorded.

    ``sparse_datatype`` / ``idf`` None mean "as recorded".
    """
    recorded = spec.metadata
    settings = pair.settings()
    fingerprint.check_documents(recorded, settings["document"], collection=collection)
    was = recorded.get("query") or {}
    keys = _query_diff(was, settings["query"]) if was else []
    if keys:
        raise FingerprintMismatchError(
            f"collection {collection!r} was built with query encoder {fingerprint.describe_diff(keys, was, settings['query'])}; "
            "searches use the recorded query settings: ingest with them (or into a new collection)"
        )
    if sparse_datatype is not None and sparse_datatype != spec.sparse_datatype:
        raise ConfigError(
            f"collection {collection!r} stores sparse weights as {spec.sparse_datatype}, not {sparse_datatype}; "
            "omit the sparse datatype, or ingest into a new collection"
        )
    if idf is not None and bool(idf) != spec.idf:
        has = "uses" if spec.idf else "does not use"
        raise ConfigError(f"collection {collection!r} {has} Qdrant's IDF modifier; omit the IDF option, or ingest into a new collection")
    dense_settings = None if dense is None else dense.settings()
    if (recorded.get("dense") is None) != (dense is None):
        has = "has" if recorded.get("dense") else "has no"
        raise ConfigError(f"collection {collection!r} {has} dense vectors; ingest with the same dense settings")
    if dense_settings is not None and recorded.get("dense") != dense_settings:
        raise ConfigError(f"collection {collection!r} was built with dense encoder {recorded.get('dense')}, not {dense_settings}")


def check_creation_options(
    spec: CollectionSpec,
    collection: str,
    *,
    server: ServerOptions | None = None,
    payload_indexes: Mapping[str, PayloadType] | None = None,
) -> None:
    """Refuse creation options that an existing ``collection`` (its ``spec``) was not created with.

    Shards, replicas, write consistency and on-disk storage are fixed when a collection is
    created, so values that differ from the recorded ones would silently not apply. A payload
    index the collection lacks is fine (the caller creates it); a field already indexed as
    another type is refused.

    Example:
        >>> spec = CollectionSpec(server=ServerOptions(shards=6), payload_indexes={"year": "integer"})
        >>> check_creation_options(spec, "c", server=ServerOptions(shards=6), payload_indexes={"lang": "keyword"})
        >>> check_creation_options(spec, "c", server=ServerOptions(shards=2, replicas=2))
        Traceback (most recent call last):
        ...
        splade_qdrant.errors.ConfigError: collection 'c' was created with shards=6, replicas=the server's default, not shards=2, replicas=2; server options apply when a collection is created: omit them, or ingest into a new collection
    """
    recorded, given = (spec.server or ServerOptions()).given(), server.given() if server is not None else {}
    differ = [k for k, v in given.items() if recorded.get(k) != v]
    if differ:
        raise ConfigError(
            f"collection {collection!r} was created with {fingerprint.describe_diff(differ, recorded, given, unset=_SERVER_DEFAULT)}; "
            "server options apply when a collection is created: omit them, or ingest into a new collection"
        )
    for field_name, kind in (payload_indexes or {}).items():
        has = spec.payload_indexes.get(field_name)
        if has is not None and has != kind:
            raise ConfigError(
                f"collection {collection!r} indexes payload field {field_name!r} as {has}, not {kind}; "
                f"omit --index-field {field_name}:{kind}, or ingest into a new collection"
            )


class Target:
    """The collection an ingest writes to: checked up front if it exists, created on the
    first write if not.

    Args:
        store, collection: where to write.
        pair, dense: the encoders (checked against, or recorded in, the collection).
        sparse_datatype, idf: for a new collection (None: float32, no IDF); checked on an existing one.
    """

    def __init__(
        self,
        store: Store,
        collection: str,
        pair: EncoderPair,
        dense: DenseEncoderLike | None,
        *,
        sparse_datatype: SparseDatatype | None,
        idf: bool | None,
    ) -> None:
        self.store, self.name = store, collection
        self._check = (pair, dense, sparse_datatype, idf)
        self.spec: CollectionSpec | None = None
        if store.collection_exists(collection):
            self._adopt()
        else:
            self._new = new_spec(pair, dense, sparse_datatype=sparse_datatype, idf=idf)

    def _adopt(self) -> None:
        pair, dense, sparse_datatype, idf = self._check
        spec = self.store.spec(self.name)
        check_existing(spec, self.name, pair, dense, sparse_datatype=sparse_datatype, idf=idf)
        self.spec = spec

    @property
    def exists(self) -> bool:
        """True once the collection exists (found, or created by :meth:`ensure`)."""
        return self.spec is not None

    @property
    def can_refresh(self) -> bool:
        """A payload-only change can reuse stored sparse vectors (they read back exactly)."""
        return self.spec is not None and self.spec.sparse_datatype == "float32" and self.spec.dense is None

    def ensure(self) -> None:
        """Create the collection if it does not exist yet (called before the first write)."""
        if self.spec is not None:
            return
        try:
            self.store.create_collection(self.name, self._new)
            self.spec = self._new
        except CollectionExistsError:
            self._adopt()  # created by another process meanwhile: check it like any existing collection
