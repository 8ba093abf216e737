"""qdrant-client's failures as the project's errors: tables from types and status codes.

Modelled on httpx's ``map_httpcore_exceptions``: each table maps a lower-layer exception
type (or an HTTP status, or a gRPC status code) to a :class:`Fault`, and the most specific
type in the exception's MRO wins. qdrant-client wraps transport errors in
``ResponseHandlingException(source)``; the source is classified. Nothing reads message text.

Example:
    >>> import httpx
    >>> from qdrant_client.http.exceptions import ResponseHandlingException
    >>> classify(ResponseHandlingException(httpx.ConnectTimeout("x"))).name
    'TRANSIENT'
    >>> classify(status_error(404)).name, classify(status_error(401)).name, classify(status_error(400)).name
    ('NOT_FOUND', 'AUTH', 'REFUSED')
"""

from __future__ import annotations

import enum
import json
import ssl
from collections.abc import Iterator

import grpc
import httpx
import pydantic
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

__all__ = ["Fault", "classify", "detail", "retry_after_s", "status_error"]


class Fault(enum.Enum):
    """What went wrong, as far as the caller's next step is concerned."""

    TRANSIENT = "may succeed if tried again (connection, timeout, 429, 5xx)"
    AUTH = "credentials refused (401, 403)"
    TLS = "the TLS handshake failed (certificate not trusted, wrong host name, not a TLS server)"
    NOT_FOUND = "no such collection (404)"
    CONFLICT = "already exists (409)"
    REFUSED = "the server refused the request (other 4xx)"
    LOCAL = "qdrant-client's local mode refused the call (it raises ValueError)"
    BROKEN = "an answer qdrant-client could not read, or an unknown failure"


#: HTTP status -> fault; every status not listed is REFUSED (4xx) or BROKEN.
STATUS_FAULTS: dict[int, Fault] = {
    401: Fault.AUTH,
    403: Fault.AUTH,
    404: Fault.NOT_FOUND,
    409: Fault.CONFLICT,
    429: Fault.TRANSIENT,
    500: Fault.TRANSIENT,
    502: Fault.TRANSIENT,
    503: Fault.TRANSIENT,
    504: Fault.TRANSIENT,
}

#: gRPC status -> fault, the same choices as the HTTP statuses they stand for.
GRPC_FAULTS: dict[grpc.StatusCode, Fault] = {
    grpc.StatusCode.UNAUTHENTICATED: Fault.AUTH,
    grpc.StatusCode.PERMISSION_DENIED: Fault.AUTH,
    grpc.StatusCode.NOT_FOUND: Fault.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: Fault.CONFLICT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Fault.TRANSIENT,
    grpc.StatusCode.INTERNAL: Fault.TRANSIENT,
    grpc.StatusCode.UNAVAILABLE: Fault.TRANSIENT,
    grpc.StatusCode.DEADLINE_EXCEEDED: Fault.TRANSIENT,
}

#: Exception type -> fault; the most specific class in the MRO wins.
TYPE_FAULTS: dict[type[BaseException], Fault] = {
    httpx.TimeoutException: Fault.TRANSIENT,
    httpx.TransportError: Fault.TRANSIENT,  # connect / read / write errors, protocol errors
    httpx.InvalidURL: Fault.BROKEN,
    ResourceExhaustedResponse: Fault.TRANSIENT,  # 429 with Retry-After
    ConnectionError: Fault.TRANSIENT,
    TimeoutError: Fault.TRANSIENT,
    pydantic.ValidationError: Fault.BROKEN,
    ValueError: Fault.LOCAL,
}


def _by_type(exc: BaseException) -> Fault | None:
    for cls in type(exc).__mro__:
        if cls in TYPE_FAULTS:
            return TYPE_FAULTS[cls]
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from or during (httpx wraps httpcore wraps ssl)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: BaseException) -> Fault:
    """The fault behind ``exc``, by its type, HTTP status or gRPC status code."""
    if isinstance(exc, ResponseHandlingException):
        return classify(exc.source)
    if any(isinstance(e, ssl.SSLError) for e in _chain(exc)):
        return Fault.TLS
    if isinstance(exc, UnexpectedResponse):
        code = exc.status_code
        if code is None:
            return Fault.BROKEN
        return STATUS_FAULTS.get(code, Fault.REFUSED if 400 <= code < 500 else Fault.BROKEN)
    if isinstance(exc, grpc.RpcError) and callable(getattr(exc, "code", None)):
        return GRPC_FAULTS.get(exc.code(), Fault.REFUSED)
    return _by_type(exc) or Fault.BROKEN


def detail(exc: BaseException) -> str:
    """A short description for messages: the status, the server's own error text, or the type."""
    if isinstance(exc, ResponseHandlingException):
        return detail(exc.source)
    if isinstance(exc, UnexpectedResponse):
        said = ""
        try:
            said = str(json.loads(exc.content)["status"]["error"])
        except (ValueError, KeyError, TypeError):
            said = ""
        head = f"HTTP {exc.status_code} {exc.reason_phrase}".strip()
        return f"{head}: {said}" if said else head
    if isinstance(exc, grpc.RpcError) and callable(getattr(exc, "code", None)):
        details = exc.details() if callable(getattr(exc, "details", None)) else ""
        return f"gRPC {exc.code().name}: {details}" if details else f"gRPC {exc.code().name}"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def retry_after_s(exc: BaseException) -> float | None:
    """The server's Retry-After in seconds, when it sent one."""
    if isinstance(exc, ResourceExhaustedResponse):
        return float(exc.retry_after_s)
    return None


def status_error(code: int, body: bytes = b"") -> UnexpectedResponse:
    """An ``UnexpectedResponse`` as qdrant-client raises it for HTTP status ``code`` (for examples and tests)."""
    return UnexpectedResponse(status_code=code, reason_phrase="", content=body, headers=httpx.Headers())
