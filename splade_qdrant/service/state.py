"""What the service owns: one :class:`~splade_qdrant.collection.SpladeQdrant`, the query
micro-batcher and the single writer.

Two threads touch the models and the store: the *query worker* (the micro-batcher's thread:
query encoding and searches) and the *writer* (ingestion, deletions, document-side encoding).
Searches go on while the writer ingests; writes are serialised, so the embedded store has one
writer, as it requires.

Example:
    >>> state = ServiceState(ServiceSettings(collection="cran", store="./data"))  # doctest: +SKIP
    >>> state.health()["collection"]  # doctest: +SKIP
    'cran'
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._version import __version__
from ..collection import SpladeQdrant
from ..errors import CollectionNotFoundError
from ..ingest import ingest
from ..search import Searcher, SearchHit
from ..sparse import SparseVector
from ..store import open_store
from .batching import MicroBatcher
from .highlight import best_window, word_highlights
from .metrics import Metrics
from .settings import ServiceSettings

__all__ = ["DocumentNotFound", "ServiceState", "open_served"]

logger = logging.getLogger(__name__)

#: How far a snippet edge moves to reach a word boundary, in characters.
_SNAP = 24


class DocumentNotFound(LookupError):
    """No point holds this document id."""


class _TimedSearcher(Searcher):
    """A :class:`Searcher` that reports its query-encoder time to the service metrics."""

    metrics: Metrics | None = None

    def encode(self, queries: Sequence[str]) -> list[SparseVector]:
        started = time.perf_counter()
        vectors = super().encode(queries)
        if self.metrics is not None:
            self.metrics.observe_encode(len(queries), time.perf_counter() - started)
        return vectors


def _recorded_options(recorded: dict[str, Any]) -> dict[str, Any]:
    """SpladeQdrant encoder options that reproduce a collection's recorded fingerprint."""
    doc, query = recorded.get("document") or {}, recorded.get("query") or {}
    options: dict[str, Any] = {}
    if doc.get("model"):
        options["doc_model"] = str(doc["model"]).split("::", 1)[0]
        options.update(doc_max_length=int(doc.get("max_length", 256)), doc_top_k=doc.get("top_k"), doc_threshold=doc.get("threshold"),
                       long_docs=doc.get("long_docs", "window"), window_overlap=doc.get("window_overlap"))
    if query.get("model"):
        options["query_model"] = str(query["model"]).split("::", 1)[0]
        options.update(query_max_length=int(query.get("max_length", 64)), query_top_k=query.get("top_k"), query_threshold=query.get("threshold"))
    dense = recorded.get("dense") or {}
    if dense.get("model") and dense["model"] != "precomputed":
        options["dense_model"] = dense["model"]
    return options


def open_served(settings: ServiceSettings) -> SpladeQdrant:
    """Open the served collection with the encoders it recorded (or those the settings name)."""
    s = settings
    store = open_store(
        s.store, url=s.url, api_key=s.api_key, prefer_grpc=s.prefer_grpc,
        timeout_s=s.timeout_s, retries=s.retries, ca_cert=s.ca_cert, verify=s.verify,
    )
    options: dict[str, Any] = {}
    if s.model is None and store.collection_exists(s.collection):
        options = _recorded_options(store.spec(s.collection).metadata)
    elif s.model is not None:
        options["model"] = s.model
    if s.query_model is not None:
        options["query_model"] = s.query_model
    if s.dense_model is not None:
        options["dense_model"] = s.dense_model
    return SpladeQdrant(s.collection, store=store, device=s.device, **options)


class ServiceState:
    """The served collection, its encoders, the query batcher and the writer.

    Args:
        settings: the service settings.
        collection: an already open SpladeQdrant to serve (not closed by :meth:`close`);
            default: open ``settings.collection`` in ``settings.store`` / ``settings.url``.
        metrics: where counters go (default: a new :class:`Metrics`).
    """

    def __init__(self, settings: ServiceSettings, *, collection: SpladeQdrant | None = None, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self._owns = collection is None
        self.sq = collection if collection is not None else open_served(settings)
        self.name = self.sq.collection
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="splade-qdrant-writer")
        self.batcher: MicroBatcher[dict[str, Any]] = MicroBatcher(
            self._run_search,
            max_batch=settings.max_batch if settings.batching else 1,
            max_wait_s=settings.max_wait_ms / 1000,
            on_batch=lambda size, _s: self.metrics.observe_batch(size),
        )
        self._searcher: Searcher | None = None
        self._lock = threading.Lock()
        self._pair_loaded = False
        self._unoptimized = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self, *, warm: bool = True) -> None:
        """Start the batcher (on the running event loop); load the query encoder if the collection exists."""
        self.batcher.start()
        if warm and self.collection_exists():
            self.searcher().encode(["warm up"])

    async def stop(self) -> None:
        await self.batcher.stop()
        self.writer.shutdown(wait=True)
        if self._owns:
            self.sq.close()

    # ------------------------------------------------------------------ reading

    def collection_exists(self) -> bool:
        return self.sq.store.collection_exists(self.name)

    def searcher(self) -> Searcher:
        """The searcher (built on first use; raises CollectionNotFoundError before the first ingest)."""
        with self._lock:
            if self._searcher is None:
                if not self.collection_exists():
                    raise CollectionNotFoundError(f"collection {self.name!r} does not exist yet; POST /documents creates it")
                if self._pair_loaded:
                    searcher = _TimedSearcher(self.sq.store, self.name, query_encoder=self.sq.pair.query, dense_encoder=self.sq.dense)
                else:
                    searcher = _TimedSearcher(self.sq.store, self.name, query_model=self.settings.query_model,
                                              dense_encoder=self.sq.dense, device=self.settings.device)
                searcher.metrics = self.metrics
                self._searcher = searcher
            return self._searcher

    def health(self) -> dict[str, Any]:
        exists = self.collection_exists()
        return {
            "status": "ok",
            "collection": self.name,
            "collection_exists": exists,
            "dense": exists and self.sq.store.spec(self.name).dense is not None,
            "version": __version__,
            "batching": self.batcher.max_batch > 1,
            "max_batch": self.batcher.max_batch,
            "max_wait_ms": self.batcher.max_wait_s * 1000,
        }

    def info(self) -> dict[str, Any]:
        return self.sq.info()

    @staticmethod
    def options_key(options: dict[str, Any], *, highlight: bool) -> str:
        """The batcher's grouping key: requests with equal keys are searched together."""
        return json.dumps({**options, "highlight": highlight}, sort_keys=True)

    async def search(self, text: str, options: dict[str, Any], *, highlight: bool = False) -> dict[str, Any]:
        """``{"hits": [...]}`` (and ``"highlights"``) for one query, through the micro-batcher."""
        if highlight:
            options = {**options, "explain": True}
        return await self.batcher.submit(self.options_key(options, highlight=highlight), text)

    def _run_search(self, key: Hashable, texts: list[str]) -> list[dict[str, Any]]:
        options = json.loads(str(key))
        highlight = options.pop("highlight")
        searcher = self.searcher()
        results = searcher.search_batch(texts, **options)
        out = []
        for hits in results:
            body: dict[str, Any] = {"hits": [h.as_dict() for h in hits]}
            if highlight:
                body["highlights"] = self._highlights(searcher, hits)
            out.append(body)
        return out

    def _highlights(self, searcher: Searcher, hits: Sequence[SearchHit]) -> list[dict[str, Any]]:
        fields = [next((f for f in ("text", "title") if isinstance(h.payload.get(f), str)), None) for h in hits]
        texts = [h.payload[f] if f is not None else "" for h, f in zip(hits, fields)]
        ids, offsets = searcher.encoder.mlm.token_ids(texts, offsets=True)
        out = []
        for k, (hit, field, text) in enumerate(zip(hits, fields, texts)):
            matches = hit.explanation or ()
            terms = {m.token_id: (m.term, m.contribution) for m in matches}
            spans = word_highlights(text, ids[k], offsets[k], terms) if offsets is not None else []
            start, end = best_window(len(text), spans)
            if start > 0:
                cut = text.find(" ", start, start + _SNAP)
                start = cut + 1 if cut >= 0 else start
            if end < len(text):
                cut = text.rfind(" ", end - _SNAP, end)
                end = cut if cut > start else end
            shown = [s for s in spans if s.start >= start and s.end <= end]
            present = {t for s in spans for t in s.terms}
            out.append({
                "field": field,
                "text": text[start:end],
                "start": start,
                "truncated_before": start > 0,
                "truncated_after": end < len(text),
                "spans": [{"start": s.start - start, "end": s.end - start, "contribution": s.contribution, "terms": s.terms} for s in shown],
                "unmatched_terms": [{"term": m.term, "contribution": m.contribution} for m in matches if m.term not in present],
            })
        return out

    async def embed(self, texts: list[str], side: str) -> list[SparseVector]:
        """SPLADE vectors of ``texts`` from the document or the query encoder."""
        if side == "query":
            try:
                searcher = await self.batcher.run_on_worker(self.searcher)
            except CollectionNotFoundError:
                searcher = None
            if searcher is not None:
                return await self.batcher.run_on_worker(lambda: searcher.encode(texts))
        return await self._on_writer(lambda: self._pair_encoder(side).encode(texts))

    def _load_pair(self) -> Any:
        """The encoder pair (document and query sides), loaded on first use."""
        pair = self.sq.pair
        self._pair_loaded = True
        return pair

    def _pair_encoder(self, side: str) -> Any:
        pair = self._load_pair()
        return pair.document if side == "document" else pair.query

    # ------------------------------------------------------------------ writing

    async def _on_writer(self, fn: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.writer, fn)

    async def ingest(self, documents: list[Any], *, store_text: bool, skip_bad: bool, insert_only: bool, reencode: bool) -> dict[str, Any]:
        """Ingest documents on the writer thread; the :class:`~splade_qdrant.ingest.IngestReport` as a dict."""
        return await self._on_writer(lambda: self._ingest(documents, store_text=store_text, skip_bad=skip_bad,
                                                          insert_only=insert_only, reencode=reencode))

    def _ingest(self, documents: list[Any], *, store_text: bool, skip_bad: bool, insert_only: bool, reencode: bool) -> dict[str, Any]:
        pair = self._load_pair()
        # Small requests leave the embedded store's segments unmerged until enough points have come.
        optimize = self.sq.store.kind != "edge" or self._unoptimized + len(documents) >= self.settings.optimize_every
        report = ingest(
            self.sq.store, self.name, iter(documents), pair=pair, dense=self.sq.dense, store_text=store_text,
            insert_only=insert_only, skip_unchanged=not reencode, skip_bad=skip_bad, optimize=optimize, show_progress=False,
        )
        self._unoptimized = 0 if optimize else self._unoptimized + report.points_written
        self.metrics.add_documents(report.documents)
        return report.as_dict()

    async def delete(self, doc_id: str) -> int:
        """Delete a document's point(s); returns how many. Raises DocumentNotFound."""
        return await self._on_writer(lambda: self._delete(doc_id))

    def _delete(self, doc_id: str) -> int:
        if not self.collection_exists():
            raise CollectionNotFoundError(f"collection {self.name!r} does not exist yet")
        report = self.sq.delete([doc_id])
        if report.not_found:
            raise DocumentNotFound(f"no document {doc_id!r} in collection {self.name!r}")
        return int(report.points_deleted)
