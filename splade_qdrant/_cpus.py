"""How many CPUs this process may really use (no torch import: the asyncio API's parent
process sizes its worker with it).

Example:
    >>> usable_cpus() >= 1
    True
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .errors import ConfigError

__all__ = ["CPUS_ENV", "cpu_quota", "usable_cpus"]


def cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs' worth of time the process's cgroup may use (cgroup v2 ``cpu.max`` or v1
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), or None when unlimited or unknown.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); _ = (d / "cpu.max").write_text("150000 100000\\n")
        >>> cpu_quota(d)
        1.5
    """
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        q = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        p = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if q <= 0 or p <= 0 else q / p
    except (OSError, ValueError):
        return None


#: Environment variable that caps the CPUs splade_qdrant's encoders use (a positive integer).
CPUS_ENV = "SPLADE_QDRANT_CPUS"


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (``taskset``), capped by its cgroup
    CPU quota (containers) and by :data:`CPUS_ENV` when set, at least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover — platforms without affinity masks
        n = os.cpu_count() or 1
    quota = cpu_quota()
    if quota is not None:
        n = min(n, math.ceil(quota))
    cap = os.environ.get(CPUS_ENV)
    if cap:
        if not cap.strip().isdigit() or int(cap) < 1:
            raise ConfigError(f"{CPUS_ENV} must be a positive integer (CPUs for the encoders), got {cap!r}")
        n = min(n, int(cap))
    return max(1, n)
