"""The error tree of splade_qdrant.

Every error the library raises on purpose derives from :class:`SpladeQdrantError`, so
applications can catch one type. Errors from torch, transformers, qdrant-client and
Qdrant Edge are translated into these at the boundary where they happen, with a message
that says what to do next::

    SpladeQdrantError
    ├── ConfigError                 bad option or option combination
    ├── ModelNotFoundError          model id / directory cannot be loaded
    ├── MissingDependencyError      optional extra not installed (also an ImportError)
    ├── InputError                  a document or query is malformed (file, line, id)
    └── StoreError                  anything the vector store refuses
        ├── StoreUnavailableError   server unreachable, directory locked or not writable
        │   └── WorkerDiedError     the worker process of an AsyncSpladeQdrant exited
        ├── StoreAuthError          the server refused the credentials (HTTP 401/403)
        ├── CollectionNotFoundError
        ├── CollectionExistsError
        └── FingerprintMismatchError  collection was built by another encoder

Example:
    >>> from splade_qdrant.errors import InputError, SpladeQdrantError
    >>> err = InputError("missing 'text'", source="corpus.jsonl", line=7, doc_id="d7")
    >>> str(err)
    "corpus.jsonl:7 (document 'd7'): missing 'text'"
    >>> isinstance(err, SpladeQdrantError) and isinstance(err, ValueError)
    True
"""

from __future__ import annotations

__all__ = [
    "CollectionExistsError",
    "CollectionNotFoundError",
    "ConfigError",
    "FingerprintMismatchError",
    "InputError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "SpladeQdrantError",
    "StoreAuthError",
    "StoreError",
    "StoreUnavailableError",
    "WorkerDiedError",
]


class SpladeQdrantError(Exception):
    """Base class of every error raised on purpose by splade_qdrant."""


class ConfigError(SpladeQdrantError, ValueError):
    """An option has an invalid value, or two options contradict each other."""


class ModelNotFoundError(SpladeQdrantError, OSError):
    """A model id or directory could not be loaded (hub unreachable, wrong path, bad layout)."""


class MissingDependencyError(SpladeQdrantError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package: pip install 'splade-qdrant[{extra}]'"
        )


class InputError(SpladeQdrantError, ValueError):
    """A document, query or vector supplied by the user is malformed.

    Args:
        message: what is wrong and, where useful, what to do.
        source: file name (or ``"<iterable>"``) the input came from.
        line: 1-based line number in ``source``, when known.
        doc_id: the document's own id, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        doc_id: str | None = None,
    ) -> None:
        self.reason = message
        self.source = source
        self.line = line
        self.doc_id = doc_id
        where = ""
        if source is not None:
            where = source if line is None else f"{source}:{line}"
        if doc_id is not None:
            where = f"{where} (document {doc_id!r})" if where else f"document {doc_id!r}"
        super().__init__(f"{where}: {message}" if where else message)


class StoreError(SpladeQdrantError):
    """The vector store refused an operation."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached or opened (server down, directory locked or read-only)."""


class WorkerDiedError(StoreUnavailableError):
    """The worker process of an :class:`~splade_qdrant.AsyncSpladeQdrant` exited (killed,
    crashed) before answering; the next call starts a new one."""


class StoreAuthError(StoreError):
    """The server refused the request's credentials (missing or wrong API key, no permission)."""


class CollectionNotFoundError(StoreError, KeyError):
    """The named collection does not exist in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CollectionExistsError(StoreError):
    """A collection of that name exists already and cannot be created again."""


class FingerprintMismatchError(StoreError):
    """The collection was built with a different encoder configuration."""
