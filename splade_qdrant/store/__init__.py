"""Qdrant backends behind one interface: :class:`Store`.

:func:`open_store` picks the backend from the arguments: a ``url`` (or ``QDRANT_URL``) means
a Qdrant server through qdrant-client, ``":memory:"`` means qdrant-client's in-process test
mode, anything else is a directory for the embedded Qdrant Edge engine (default
``SPLADE_QDRANT_STORE`` or ``./splade_qdrant_data``).
"""

from __future__ import annotations

import os

from ..config import ENV_API_KEY, ENV_URL, env_or, resolve_store_dir
from ..errors import ConfigError
from .base import CollectionSpec, DenseQuery, DenseSpec, FusedQuery, PointRecord, SparseQuery, Store, StoredPoint

__all__ = [
    "CollectionSpec",
    "DenseQuery",
    "DenseSpec",
    "FusedQuery",
    "PointRecord",
    "SparseQuery",
    "Store",
    "StoredPoint",
    "open_store",
]


def open_store(
    store: str | os.PathLike[str] | None = None,
    *,
    url: str | None = None,
    api_key: str | None = None,
    prefer_grpc: bool = False,
) -> Store:
    """Open the embedded store at ``store``, or a server at ``url``.

    Precedence: ``url`` argument > ``store`` argument > ``QDRANT_URL`` > ``SPLADE_QDRANT_STORE``
    > ``./splade_qdrant_data``. ``store=":memory:"`` opens qdrant-client's in-memory mode.

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

        return RemoteStore(url=url, api_key=env_or(api_key, ENV_API_KEY), prefer_grpc=prefer_grpc)
    if store is not None and os.fspath(store) == ":memory:":
        from .remote import RemoteStore

        return RemoteStore(location=":memory:")
    from .edge import EdgeStore

    return EdgeStore(resolve_store_dir(store))
