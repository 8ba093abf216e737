"""How to reach a Qdrant server: URL, credentials, TLS, timeouts and retries, resolved once.

Precedence for every setting: argument > environment variable > default constant. The
environment variables are Qdrant's own ``QDRANT_URL`` and ``QDRANT_API_KEY`` and, for the
rest, the project's ``SPLADE_QDRANT_`` prefix:

================================  ==================================  =====================
setting                           environment                         default
================================  ==================================  =====================
``url``                           ``QDRANT_URL``                      (none)
``api_key``                       ``QDRANT_API_KEY``                  (none)
``prefer_grpc``                   ``SPLADE_QDRANT_PREFER_GRPC``       false
``timeout_s``                     ``SPLADE_QDRANT_TIMEOUT``           60 s
``retries`` (tries in all)        ``SPLADE_QDRANT_RETRIES``           4
``backoff_s``                     ``SPLADE_QDRANT_BACKOFF``           0.5 s, doubled per try
``ca_cert`` (PEM file)            ``SPLADE_QDRANT_CA_CERT``           system CAs
``verify`` (TLS certificates)     ``SPLADE_QDRANT_TLS_VERIFY``        true
================================  ==================================  =====================

TLS is on when the URL starts with ``https://``.

Example:
    >>> c = ServerConnection.resolve(url="https://qdrant.example:6333", retries=2, environ={})
    >>> (c.tls, c.retries, c.timeout_s, c.prefer_grpc)
    (True, 2, 60.0, False)
    >>> ServerConnection.resolve(url="http://h:6333", environ={"SPLADE_QDRANT_TIMEOUT": "5"}).timeout_s
    5.0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..config import ENV_API_KEY, ENV_URL
from ..errors import ConfigError

__all__ = [
    "DEFAULT_BACKOFF_S",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT_S",
    "ENV_BACKOFF",
    "ENV_CA_CERT",
    "ENV_PREFER_GRPC",
    "ENV_RETRIES",
    "ENV_TIMEOUT",
    "ENV_TLS_VERIFY",
    "ServerConnection",
]

#: Seconds one request may take.
DEFAULT_TIMEOUT_S = 60.0
#: Tries of a request that fails transiently (connection refused, timeout, HTTP 429 / 5xx).
DEFAULT_RETRIES = 4
#: Wait before the second try in seconds, doubled before each later one.
DEFAULT_BACKOFF_S = 0.5

ENV_PREFER_GRPC = "SPLADE_QDRANT_PREFER_GRPC"
ENV_TIMEOUT = "SPLADE_QDRANT_TIMEOUT"
ENV_RETRIES = "SPLADE_QDRANT_RETRIES"
ENV_BACKOFF = "SPLADE_QDRANT_BACKOFF"
ENV_CA_CERT = "SPLADE_QDRANT_CA_CERT"
ENV_TLS_VERIFY = "SPLADE_QDRANT_TLS_VERIFY"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True, kw_only=True)
class ServerConnection:
    """Everything needed to talk to one Qdrant server; build it with :meth:`resolve`."""

    url: str
    api_key: str | None = None
    prefer_grpc: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    backoff_s: float = DEFAULT_BACKOFF_S
    ca_cert: str | None = None
    verify: bool = True

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")) and "://" in self.url:
            raise ConfigError(f"server URL must start with http:// or https://, got {self.url!r}")
        if self.retries < 1 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise ConfigError(
                f"retries must be >= 1, backoff_s >= 0 and timeout_s > 0, got {self.retries}, {self.backoff_s} and {self.timeout_s}"
            )
        if self.ca_cert is not None and not os.path.isfile(self.ca_cert):
            raise ConfigError(f"CA certificate file {self.ca_cert!r} does not exist")

    @property
    def tls(self) -> bool:
        """True for ``https://`` URLs."""
        return self.url.startswith("https://")

    @classmethod
    def resolve(
        cls,
        *,
        url: str | None = None,
        api_key: str | None = None,
        prefer_grpc: bool | None = None,
        timeout_s: float | None = None,
        retries: int | None = None,
        backoff_s: float | None = None,
        ca_cert: str | None = None,
        verify: bool | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ServerConnection:
        """Each setting from its argument, else its environment variable, else its default."""
        env = os.environ if environ is None else environ

        def pick(name: str) -> str | None:
            return env.get(name) or None

        chosen_url = url if url is not None else env.get(ENV_URL)
        if not chosen_url:
            raise ConfigError(f"no server URL: pass --url or set {ENV_URL}")
        return cls(
            url=chosen_url,
            api_key=api_key if api_key is not None else (env.get(ENV_API_KEY) or None),
            prefer_grpc=prefer_grpc if prefer_grpc is not None else _flag(pick(ENV_PREFER_GRPC), ENV_PREFER_GRPC, False),
            timeout_s=timeout_s if timeout_s is not None else _number(pick(ENV_TIMEOUT), ENV_TIMEOUT, DEFAULT_TIMEOUT_S),
            retries=retries if retries is not None else int(_number(pick(ENV_RETRIES), ENV_RETRIES, DEFAULT_RETRIES)),
            backoff_s=backoff_s if backoff_s is not None else _number(pick(ENV_BACKOFF), ENV_BACKOFF, DEFAULT_BACKOFF_S),
            ca_cert=ca_cert if ca_cert is not None else pick(ENV_CA_CERT),
            verify=verify if verify is not None else _flag(pick(ENV_TLS_VERIFY), ENV_TLS_VERIFY, True),
        )


def _flag(text: str | None, name: str, default: bool) -> bool:
    if text is None:
        return default
    if text.strip().lower() in _TRUE | _FALSE:
        return text.strip().lower() in _TRUE
    raise ConfigError(f"{name} must be true or false, got {text!r}")


def _number(text: str | None, name: str, default: float) -> float:
    if text is None:
        return float(default)
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {text!r}") from None
