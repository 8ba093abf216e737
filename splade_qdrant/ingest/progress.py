"""Progress of an ingest: a bar on a terminal, a line every N seconds elsewhere.

When stderr is not a terminal (logs, CI, ``nohup``) a ticker thread writes one line every
``SPLADE_QDRANT_PROGRESS_INTERVAL`` seconds (default 30): documents done, rate, ETA, and
what the ingest is doing right now — so even one batch that takes minutes (a very long
document) is not silent. Ingests shorter than the interval print nothing.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> p = Progress("ingest cran", total=100, mode="lines", interval=3600, stream=out)
    >>> p.update(40); p.line(elapsed=10.0)
    'ingest cran: 40/100 documents (40%), 4.0 documents/s, ETA 15 s'
    >>> p.close()
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Literal, TextIO

__all__ = ["ENV_PROGRESS_INTERVAL", "Progress", "progress_interval"]

ENV_PROGRESS_INTERVAL = "SPLADE_QDRANT_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 30.0

Mode = Literal["bar", "lines", "off"]


def progress_interval() -> float:
    """Seconds between progress lines: ``SPLADE_QDRANT_PROGRESS_INTERVAL``, else 30."""
    raw = os.environ.get(ENV_PROGRESS_INTERVAL, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL_S
    return value if value > 0 else DEFAULT_INTERVAL_S


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Documents done out of ``total`` (None: unknown), shown as ``mode`` says.

    Args:
        label: what is running, e.g. ``"ingest cran"``.
        total: documents expected, if known (for percentage and ETA).
        mode: ``"bar"`` (tqdm), ``"lines"`` (a line every ``interval`` seconds) or ``"off"``.
        interval: seconds between lines (default :func:`progress_interval`).
        stream: where lines go (default stderr).
    """

    def __init__(
        self, label: str, *, total: int | None, mode: Mode, interval: float | None = None, stream: TextIO | None = None
    ) -> None:
        self.label, self.total, self.mode = label, total, mode
        self.interval = progress_interval() if interval is None else interval
        self.stream = stream
        self.done = 0
        self._stage: tuple[str, float] | None = None
        self._started = time.perf_counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._bar: Any = None
        self._ticker: threading.Thread | None = None
        if mode == "bar":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="doc", desc=label)
        elif mode == "lines":
            self._ticker = threading.Thread(target=self._tick, name="splade-qdrant-progress", daemon=True)
            self._ticker.start()

    def update(self, documents: int) -> None:
        """``documents`` more are done."""
        with self._lock:
            self.done += documents
        if self._bar is not None:
            self._bar.update(documents)

    def stage(self, what: str | None) -> None:
        """What the ingest is doing now (e.g. ``"encoding 512 documents"``); None when done."""
        with self._lock:
            self._stage = None if what is None else (what, time.perf_counter())

    def line(self, *, elapsed: float | None = None) -> str:
        """The progress line as of now (or after ``elapsed`` seconds)."""
        elapsed = time.perf_counter() - self._started if elapsed is None else elapsed
        with self._lock:
            done, stage = self.done, self._stage
        parts = [f"{self.label}: {done}" + (f"/{self.total}" if self.total else "") + " documents"]
        if self.total:
            parts[0] += f" ({100 * done / self.total:.0f}%)"
        rate = done / elapsed if elapsed > 0 else 0.0
        if done:
            parts.append(f"{rate:.1f} documents/s")
        if self.total and rate > 0 and done < self.total:
            parts.append(f"ETA {_duration((self.total - done) / rate)}")
        if stage is not None:
            parts.append(f"{stage[0]} for {_duration(time.perf_counter() - stage[1])}")
        return ", ".join(parts)

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            print(self.line(), file=self.stream or sys.stderr, flush=True)

    def close(self) -> None:
        """Stop the ticker and close the bar."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._bar is not None:
            self._bar.close()
