"""Fast tests of the service's parts that need no model: micro-batcher, highlight mapping,
metrics text, settings and the serve command's refusals."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from splade_qdrant.cli import EXIT_USER_ERROR, main
from splade_qdrant.errors import ConfigError
from splade_qdrant.service.batching import MicroBatcher
from splade_qdrant.service.highlight import Span, best_window, word_highlights
from splade_qdrant.service.metrics import Metrics
from splade_qdrant.service.settings import ServiceSettings


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_batcher_groups_concurrent_requests_by_options() -> None:
    calls: list[tuple[str, list[str]]] = []
    threads: set[str] = set()

    def run(key, texts):  # type: ignore[no-untyped-def]
        calls.append((key, list(texts)))
        threads.add(threading.current_thread().name)
        return [f"{key}:{t}" for t in texts]

    async def scenario() -> list[str]:
        b = MicroBatcher(run, max_batch=8, max_wait_s=0.05)
        b.start()
        out = await asyncio.gather(*(b.submit("k1" if i % 2 else "k2", str(i)) for i in range(6)))
        await b.stop()
        return out

    out = _run(scenario())
    assert out == [f"{'k1' if i % 2 else 'k2'}:{i}" for i in range(6)]
    assert sorted(calls) == [("k1", ["1", "3", "5"]), ("k2", ["0", "2", "4"])]
    assert len(threads) == 1 and next(iter(threads)).startswith("splade-qdrant-query")


def test_batcher_respects_max_batch_and_isolates_a_failing_request() -> None:
    sizes: list[int] = []

    def run(key, texts):  # type: ignore[no-untyped-def]
        sizes.append(len(texts))
        if "bad" in texts:
            raise ValueError("bad text")
        return [t.upper() for t in texts]

    async def scenario() -> list[object]:
        b = MicroBatcher(run, max_batch=3, max_wait_s=0.05)
        b.start()
        out = await asyncio.gather(*(b.submit("k", t) for t in ["a", "b", "bad", "c", "d"]), return_exceptions=True)
        await b.stop()
        return out

    out = _run(scenario())
    assert out[:2] == ["A", "B"] and out[3:] == ["C", "D"]
    assert isinstance(out[2], ValueError)
    assert max(sizes) <= 3


def test_a_lone_request_does_not_wait_for_company_but_a_queue_still_batches() -> None:
    sizes: list[int] = []

    def run(key, texts):  # type: ignore[no-untyped-def]
        sizes.append(len(texts))
        if "slow" in texts:
            time.sleep(0.3)
        return list(texts)

    async def scenario() -> list[str]:
        b = MicroBatcher(run, max_batch=2, max_wait_s=60)  # a wait would outlast every timeout below
        b.start()
        out = [await asyncio.wait_for(b.submit("k", t), timeout=20) for t in ("a", "b")]  # one client: no wait
        slow = asyncio.ensure_future(b.submit("k", "slow"))
        await asyncio.sleep(0.05)
        c = asyncio.ensure_future(b.submit("k", "c"))  # arrive while "slow" runs: they form the next batch
        await asyncio.sleep(0.05)
        d = asyncio.ensure_future(b.submit("k", "d"))
        out += await asyncio.wait_for(asyncio.gather(slow, c, d), timeout=20)
        await b.stop()
        return out

    assert _run(scenario()) == ["a", "b", "slow", "c", "d"]
    assert sizes == [1, 1, 1, 2]


def test_batching_off_runs_one_text_per_call() -> None:
    sizes: list[int] = []

    async def scenario() -> None:
        b = MicroBatcher(lambda k, texts: sizes.append(len(texts)) or list(texts), max_batch=1)
        b.start()
        await asyncio.gather(*(b.submit("k", str(i)) for i in range(5)))
        await b.stop()

    _run(scenario())
    assert sizes == [1] * 5


def test_word_highlights_join_subwords_and_skip_punctuation() -> None:
    text = "Swept-wings, flutter."
    # swept - wing ##s , flutter .
    ids = [1, 2, 3, 4, 5, 6, 7]
    offsets = [(0, 5), (5, 6), (6, 10), (10, 11), (11, 12), (13, 20), (20, 21)]
    spans = word_highlights(text, ids, offsets, {3: ("wing", 2.0), 4: ("##s", 0.5), 6: ("flutter", 1.0), 5: (",", 9.0)})
    assert [(text[s.start : s.end], s.contribution) for s in spans] == [("wings", 2.5), (",", 9.0), ("flutter", 1.0)]


def test_best_window_picks_the_densest_passage() -> None:
    spans = [Span(5, 9, 0.1, ["a"]), Span(500, 505, 3.0, ["b"]), Span(520, 525, 2.0, ["c"])]
    start, end = best_window(1000, spans, width=100)
    assert start <= 500 and end >= 525 and end - start == 100
    assert best_window(50, spans, width=100) == (0, 50)


def test_metrics_text_format() -> None:
    m = Metrics()
    m.observe_request("/search", "POST", 200, 0.003)
    m.observe_request("/search", "POST", 422, 0.001)
    m.observe_encode(4, 0.002)
    m.observe_batch(4)
    text = m.render(queue_depth=2, points=10)
    assert 'splade_qdrant_request_seconds_bucket{endpoint="/search",method="POST",le="0.005"} 2' in text
    assert 'splade_qdrant_request_seconds_count{endpoint="/search",method="POST"} 2' in text
    assert "splade_qdrant_query_encoded_texts_total 4" in text
    assert 'splade_qdrant_search_batch_size_bucket{le="4"} 1' in text
    assert "splade_qdrant_queue_depth 2" in text and "splade_qdrant_points 10" in text
    assert text.endswith("\n")


def test_settings_validation_and_auth_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="max_batch"):
        ServiceSettings(collection="c", max_batch=0)
    with pytest.raises(ConfigError, match="embed_side"):
        ServiceSettings(collection="c", embed_side="both")
    monkeypatch.setenv("SPLADE_QDRANT_AUTH_KEY", "env")
    assert ServiceSettings(collection="c").resolved_auth_key() == "env"
    assert ServiceSettings(collection="c", auth_key="arg").resolved_auth_key() == "arg"
    monkeypatch.delenv("SPLADE_QDRANT_AUTH_KEY")
    assert ServiceSettings(collection="c").resolved_auth_key() is None


def test_serve_refuses_workers_on_an_embedded_store(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvicorn")
    monkeypatch.delenv("QDRANT_URL", raising=False)
    assert main(["serve", "-c", "x", "--store", str(tmp_path), "--workers", "2"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs a Qdrant server" in err
    assert main(["serve", "-c", "x", "--store", str(tmp_path), "--max-batch", "0"]) == EXIT_USER_ERROR


def test_serve_passes_the_server_connection_options_to_the_store() -> None:
    """--timeout / --retries / TLS options reach the store the service opens (no server needed to build it)."""
    from splade_qdrant.cli import build_parser
    from splade_qdrant.cli.serve import settings_from_args
    from splade_qdrant.service.state import open_served

    args = build_parser().parse_args(
        ["serve", "-c", "docs", "--url", "http://127.0.0.1:9", "--timeout", "2.5", "--retries", "1", "--no-tls-verify"]
    )
    settings = settings_from_args(args)
    assert (settings.timeout_s, settings.retries, settings.verify) == (2.5, 1, False)
    from splade_qdrant.errors import StoreUnavailableError

    # Nothing listens on port 9: the store's own retry count (1, not the default) shows in its error.
    with pytest.raises(StoreUnavailableError, match="after 1 try"):
        open_served(settings)
