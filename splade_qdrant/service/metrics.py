"""Prometheus text exposition of the service's counters, without a client library.

Example:
    >>> m = Metrics()
    >>> m.observe_request("/search", "POST", 200, 0.012)
    >>> 'splade_qdrant_requests_total{endpoint="/search",method="POST",status="200"} 1' in m.render(queue_depth=0)
    True
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

__all__ = ["Metrics"]

#: Upper bounds (seconds) of the latency histograms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Upper bounds of the batch-size histogram.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class _Histogram:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1

    def lines(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out, running = [], 0
        for bound, count in zip(self.bounds, self.counts):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.n}')
        brace = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{brace} {self.total:.6f}")
        out.append(f"{name}_count{brace} {self.n}")
        return out


class Metrics:
    """Request counts and latencies per endpoint, encoder time, batch sizes, ingested documents."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self._latency: dict[tuple[str, str], _Histogram] = {}
        self._encode = _Histogram(LATENCY_BUCKETS)
        self._encoded_texts = 0
        self._batch = _Histogram(BATCH_BUCKETS)
        self._documents = 0

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(endpoint, method, status)] += 1
            hist = self._latency.get((endpoint, method))
            if hist is None:
                hist = self._latency[(endpoint, method)] = _Histogram(LATENCY_BUCKETS)
            hist.observe(seconds)

    def observe_encode(self, texts: int, seconds: float) -> None:
        """One query-encoder call on ``texts`` texts."""
        with self._lock:
            self._encode.observe(seconds)
            self._encoded_texts += texts

    def observe_batch(self, size: int) -> None:
        with self._lock:
            self._batch.observe(size)

    def add_documents(self, n: int) -> None:
        with self._lock:
            self._documents += n

    def render(self, *, queue_depth: int, points: int | None = None) -> str:
        """The Prometheus text format (version 0.0.4)."""
        p = "splade_qdrant"
        with self._lock:
            lines = [f"# HELP {p}_requests_total HTTP requests by endpoint, method and status.", f"# TYPE {p}_requests_total counter"]
            for (endpoint, method, status), n in sorted(self._requests.items()):
                lines.append(f'{p}_requests_total{{endpoint="{endpoint}",method="{method}",status="{status}"}} {n}')
            lines += [f"# HELP {p}_request_seconds Request latency.", f"# TYPE {p}_request_seconds histogram"]
            for (endpoint, method), hist in sorted(self._latency.items()):
                lines += hist.lines(f"{p}_request_seconds", f'endpoint="{endpoint}",method="{method}"')
            lines += [f"# HELP {p}_query_encode_seconds Time in the query encoder per call.", f"# TYPE {p}_query_encode_seconds histogram"]
            lines += self._encode.lines(f"{p}_query_encode_seconds", "")
            lines += [f"# HELP {p}_query_encoded_texts_total Query texts encoded.", f"# TYPE {p}_query_encoded_texts_total counter",
                      f"{p}_query_encoded_texts_total {self._encoded_texts}"]
            lines += [f"# HELP {p}_search_batch_size Queries per micro-batch.", f"# TYPE {p}_search_batch_size histogram"]
            lines += self._batch.lines(f"{p}_search_batch_size", "")
            lines += [f"# HELP {p}_documents_ingested_total Documents received by POST /documents.",
                      f"# TYPE {p}_documents_ingested_total counter", f"{p}_documents_ingested_total {self._documents}"]
        lines += [f"# HELP {p}_queue_depth Queries waiting for a batch.", f"# TYPE {p}_queue_depth gauge", f"{p}_queue_depth {queue_depth}"]
        if points is not None:
            lines += [f"# HELP {p}_points Points in the served collection.", f"# TYPE {p}_points gauge", f"{p}_points {points}"]
        return "\n".join(lines) + "\n"
