"""Qdrant Edge's failures as the project's errors: one table by type, then the path's state.

The binding raises ``OSError`` (mapped by ``errno``), ``ValueError`` for input it cannot
parse, and a plain ``Exception`` for everything else. A plain exception is classified by
looking at the store directory, never at the message text: a WAL another handle has locked
(the engine ``flock``-s ``shard/wal``), a read-only file system, a full disk, a directory we
may not write, or a path through a regular file.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> str(edge_error(PermissionError(13, "Permission denied"), "create collection 'c'", Path("/data")))
    "cannot create collection 'c': /data is not writable (Permission denied); use a --store directory you can write to"
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from ..errors import StoreError, StoreUnavailableError

__all__ = ["edge_error", "os_error", "path_fault"]

#: errno -> what to tell the user about the store path.
_REASONS = {
    errno.EACCES: "is not writable ({text}); use a --store directory you can write to",
    errno.EPERM: "is not writable ({text}); use a --store directory you can write to",
    errno.EROFS: "is on a read-only file system; use another --store directory",
    errno.ENOSPC: "is on a full disk (no space left on device); free space or use another --store directory",
    errno.ENOTDIR: "cannot be a directory: part of the path is a file ({text}); use another --store directory",
    errno.EEXIST: "cannot be a directory: part of the path is a file ({text}); use another --store directory",
}
_LOCKED = "is in use by another process (Qdrant Edge locks its files); stop that process or use another --store directory"


def os_error(exc: OSError, action: str, where: Path) -> StoreUnavailableError:
    """An ``OSError`` on the store path, by errno."""
    text = exc.strerror or str(exc)
    reason = _REASONS.get(exc.errno or 0, "is not usable ({text})").format(text=text)
    return StoreUnavailableError(f"cannot {action}: {where} {reason}")


def edge_error(exc: Exception, action: str, where: Path) -> StoreError:
    """The project's error for an exception Qdrant Edge raised while doing ``action`` in ``where``."""
    if isinstance(exc, OSError):
        return os_error(exc, action, where)
    if not isinstance(exc, ValueError):  # a plain Exception: ask the file system what is wrong
        fault = path_fault(where)
        if fault is not None:
            return StoreUnavailableError(f"cannot {action}: {where} {fault}")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreError(f"cannot {action} in {where}: {first}")


def path_fault(where: Path) -> str | None:
    """Why ``where`` (a store or collection directory) cannot be used now, or None if it looks fine."""
    for wal in (where / "shard" / "wal", where / "wal"):
        if wal.is_dir() and _locked(wal):
            return _LOCKED
    existing = where
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return _REASONS[errno.ENOTDIR].format(text=f"{existing} is a file")
    stats = os.statvfs(existing)
    if stats.f_flag & os.ST_RDONLY:
        return _REASONS[errno.EROFS]
    if stats.f_bavail == 0:
        return _REASONS[errno.ENOSPC]
    if not os.access(existing, os.W_OK):
        return _REASONS[errno.EACCES].format(text="Permission denied")
    return None


def _locked(directory: Path) -> bool:
    """True if another handle holds the exclusive lock on ``directory`` (released at once if we get it)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing the descriptor releases a lock we took
    return False
