"""Qdrant backends behind one interface: :class:`Store`.

:func:`open_store` picks the backend from the arguments: a ``url`` (or ``QDRANT_URL``) means
a Qdrant server through qdrant-client, ``":memory:"`` means qdrant-client's in-process test
mode, anything else is a directory for the embedded Qdrant Edge engine (default
``SPLADE_QDRANT_STORE`` or ``./splade_qdrant_data``).
"""

from __future__ import annotations

import os

from ..config import ENV_URL, env_or, resolve_store_dir
from ..errors import ConfigError
from .base import (
    CollectionSpec,
    DenseQuery,
    DenseSpec,
    FusedQuery,
    PointRecord,
    SparseQuery,
    Store,
    StoredPoint,
)
from .connection import ServerConnection
from .spec import PAYLOAD_TYPES, PayloadType, ServerOptions, parse_index_field

__all__ = [
    "PAYLOAD_TYPES",
    "CollectionSpec",
    "DenseQuery",
    "DenseSpec",
    "FusedQuery",
    "PayloadType",
    "PointRecord",
    "ServerConnection",
    "ServerOptions",
    "SparseQuery",
    "Store",
    "StoredPoint",
    "open_store",
    "parse_index_field",
]


def open_store(
    store: str | os.PathLike[str] | None = None,
    *,
    url: str | None = None,
    api_key: str | None = None,
    prefer_grpc: bool | None = None,
    timeout_s: float | None = None,
    retries: int | None = None,
    backoff_s: float | None = None,
    ca_cert: str | None = None,
    verify: bool | None = None,
) -> Store:
    """Open the embedded store at ``store``, or a server at ``url``.

    Precedence: ``url`` argument > ``store`` argument > ``QDRANT_URL`` > ``SPLADE_QDRANT_STORE``
    > ``./splade_qdrant_data``. ``store=":memory:"`` opens qdrant-client's in-memory mode.
    The server settings (``api_key`` … ``verify``) resolve argument > environment > default,
    as :meth:`ServerConnection.resolve` documents; they are ignored for embedded stores.

    Example:
        >>> import tempfile
        >>> open_store(tempfile.mkdtemp()).kind
        'edge'
        >>> open_store(":memory:").kind
        'qdrant-client'
    """
    if url is not None and store is not None:
        raise ConfigError("give --store DIR or --url URL, not both")
    if url is None and store is None:
        url = env_or(None, ENV_URL)
    if url is not None:
        from .remote import RemoteStore

        connection = ServerConnection.resolve(
            url=url, api_key=api_key, prefer_grpc=prefer_grpc, timeout_s=timeout_s, retries=retries,
            backoff_s=backoff_s, ca_cert=ca_cert, verify=verify,
        )
        return RemoteStore(connection=connection)
    if store is not None and os.fspath(store) == ":memory:":
        from .remote import RemoteStore

        return RemoteStore(location=":memory:")
    from .edge import EdgeStore

    return EdgeStore(resolve_store_dir(store))
