"""Service settings: one keyword-only config object, defaults as named constants.

Example:
    >>> s = ServiceSettings(collection="cran", store="./data")
    >>> s.max_batch, s.max_wait_ms, s.max_limit
    (32, 2.0, 1000)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import ConfigError

__all__ = [
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_LIMIT",
    "DEFAULT_MAX_WAIT_MS",
    "ENV_AUTH_KEY",
    "ServiceSettings",
]

#: Environment variable holding the key clients must send (``--auth-key`` wins over it).
ENV_AUTH_KEY = "SPLADE_QDRANT_AUTH_KEY"
#: Queries encoded together at most.
DEFAULT_MAX_BATCH = 32
#: How long the first query of a batch waits for company, in milliseconds.
DEFAULT_MAX_WAIT_MS = 2.0
#: Largest request body accepted (413 above it).
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
#: Largest ``limit`` and ``offset + limit`` a search may ask for (422 above it).
DEFAULT_MAX_LIMIT = 1000
#: Embedded-store ingests shorter than this many points wait for a later optimize.
DEFAULT_OPTIMIZE_EVERY = 2000


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """What ``splade-qdrant serve`` runs with.

    Args:
        collection: the one collection served.
        store, url, api_key, prefer_grpc: where it lives (see :func:`~splade_qdrant.store.open_store`);
            ``api_key`` is the Qdrant server's key, not the clients'.
        timeout_s, retries, ca_cert, verify: server connection settings, as
            :func:`~splade_qdrant.store.open_store` takes them (None: environment, then default).
        model, query_model, dense_model: encoders for ``POST /documents`` and ``/embed_sparse``
            (default: those the collection recorded).
        device: where encoders run.
        auth_key: key clients must send as ``Authorization: Bearer KEY`` or ``api-key: KEY``
            (None: no client authentication).
        cors_origins: origins allowed to call the API from a browser (empty: CORS off).
        batching: micro-batch concurrent queries (False: one query per encoder call).
        max_batch: queries per batch at most (default 32).
        max_wait_ms: bounded wait for a batch to fill, in milliseconds (default 2); spent only
            when other queries are running or queued, or the last batch had more than one.
        max_body_bytes: request body cap in bytes (default 16 MiB).
        max_limit: cap on ``limit + offset`` of a search (default 1000).
        embed_side: default side of ``POST /embed_sparse`` (``"document"`` or ``"query"``).
        optimize_every: embedded store: optimize after this many points written by requests.
    """

    collection: str
    store: str | None = None
    url: str | None = None
    api_key: str | None = None
    prefer_grpc: bool | None = None
    timeout_s: float | None = None
    retries: int | None = None
    ca_cert: str | None = None
    verify: bool | None = None
    model: str | None = None
    query_model: str | None = None
    dense_model: str | None = None
    device: str | None = None
    auth_key: str | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    batching: bool = True
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_limit: int = DEFAULT_MAX_LIMIT
    embed_side: str = "document"
    optimize_every: int = DEFAULT_OPTIMIZE_EVERY

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ConfigError(f"max_batch must be >= 1, got {self.max_batch}")
        if not 0 <= self.max_wait_ms <= 1000:
            raise ConfigError(f"max_wait_ms must be in [0, 1000], got {self.max_wait_ms}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be >= 1024, got {self.max_body_bytes}")
        if self.max_limit < 1:
            raise ConfigError(f"max_limit must be >= 1, got {self.max_limit}")
        if self.embed_side not in ("document", "query"):
            raise ConfigError(f"embed_side must be 'document' or 'query', got {self.embed_side!r}")
        if self.auth_key is not None and not self.auth_key:
            raise ConfigError("the client auth key must not be empty")

    def resolved_auth_key(self) -> str | None:
        """``auth_key`` if given, else ``SPLADE_QDRANT_AUTH_KEY`` if set, else None."""
        return self.auth_key if self.auth_key is not None else (os.environ.get(ENV_AUTH_KEY) or None)
