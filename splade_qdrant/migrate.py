"""Copy a collection between any two stores: Qdrant Edge directory, server URL, qdrant-client local path.

Qdrant Edge has no shard export and qdrant-client's ``migrate()`` works only between
``QdrantClient`` objects; this works between any two :class:`~splade_qdrant.store.Store`\\ s:

1. **Configuration.** The target collection is created with the source's vector configuration
   (sparse name, datatype, IDF modifier, dense size and distance), payload indexes and metadata
   (the encoder fingerprint, so search there uses the recorded query encoder). Server creation
   options (shards, replicas) are the target store's own (``Store.set_creation_defaults``, the
   CLI's server options), never copied from an embedded store. An existing target collection
   must have the same vector configuration and fingerprint, else the copy is refused.
2. **Points**, page by page in id order (``Store.scroll``): ids, sparse and dense vectors and
   payloads. Points already in the target with the same payload are skipped, so an
   interrupted migration resumes by running it again; ids are the source's, so nothing is
   ever duplicated.
3. **Verification**: equal counts; a seeded sample of points (reservoir over the whole scroll)
   has bit-equal sparse vectors, equal payloads (floats within 1e-12 relative: Qdrant Edge
   parses JSON numbers within a few ulps, the rule ingest uses too) and bit-equal dense vectors in both stores
   (cosine ones within 1e-6: Qdrant renormalises them on every insert, see :func:`same_dense`); and the stored vectors of a few
   sample points, used as queries, return the same top 10 (ids, scores) on both sides. No model
   is needed.

Example:
    >>> import tempfile
    >>> from splade_qdrant.sparse import SparseVector
    >>> from splade_qdrant.store import CollectionSpec, PointRecord, open_store
    >>> src, dst = open_store(tempfile.mkdtemp()), open_store(":memory:")
    >>> src.create_collection("docs", CollectionSpec(metadata={"encoder": "m"}))
    >>> src.upsert("docs", [PointRecord("5f0e6c1c-0000-5000-8000-000000000001", SparseVector.from_dict({3: 1.5}), {"doc_id": "a"})])
    >>> report = migrate(src, dst, "docs", show_progress=False)
    >>> report.copied, report.verified, dst.metadata("docs")
    (1, True, {'encoder': 'm'})
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, FingerprintMismatchError, StoreError
from .ingest import same_payload
from .store import Store, open_store
from .store.base import CollectionSpec, DenseQuery, PointRecord, SparseQuery, StoredPoint
from .store.spec import spec_to_json

__all__ = ["DEFAULT_MIGRATE_BATCH", "MigrateReport", "MigrationError", "migrate", "open_location", "same_dense"]

logger = logging.getLogger(__name__)

#: Points per page read from the source and written to the target.
DEFAULT_MIGRATE_BATCH = 256
#: Points whose vectors and payloads are compared after the copy.
DEFAULT_SAMPLE = 100
#: Sample points whose stored vectors are run as top-10 queries on both sides.
DEFAULT_QUERIES = 10
_TOP = 10
#: Relative tolerance when ranking ties are compared (scores are computed, not stored).
_SCORE_RTOL = 1e-5
_CLIENT_LOCAL_MARKER = "meta.json"
#: Cosine (unit) dense vectors match within this (Qdrant renormalises them on insert).
_COSINE_ATOL = 1e-6


class MigrationError(StoreError):
    """The copy finished but verification found a difference (the message says which)."""


@dataclass
class MigrateReport:
    """What a migration did. Times in seconds."""

    source: str
    target: str
    collection: str
    to_collection: str
    source_points: int = 0
    copied: int = 0
    skipped_existing: int = 0
    created: bool = False
    seconds: float = 0.0
    verified: bool = False
    sample_checked: int = 0
    queries_checked: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "target": self.target, "collection": self.collection, "to_collection": self.to_collection,
            "source_points": self.source_points, "copied": self.copied, "skipped_existing": self.skipped_existing,
            "created": self.created, "seconds": round(self.seconds, 3), "verified": self.verified,
            "sample_checked": self.sample_checked, "queries_checked": self.queries_checked, "problems": list(self.problems),
        }

    def summary(self) -> str:
        head = (
            f"collection {self.collection!r} ({self.source}) → {self.to_collection!r} ({self.target}): "
            f"{self.copied} points copied, {self.skipped_existing} already there, in {self.seconds:.1f} s"
        )
        if self.verified:
            check = (f"verified: {self.source_points} points on both sides, {self.sample_checked} sampled points bit-equal, "
                     f"same top {_TOP} for {self.queries_checked} queries")
        else:
            check = "not verified" if not self.problems else "VERIFICATION FAILED: " + "; ".join(self.problems)
        return f"{head}\n{check}"


def open_location(
    store: str | os.PathLike[str] | None = None, *, url: str | None = None, api_key: str | None = None, local_path: str | None = None
) -> Store:
    """A store from the CLI's spelling: a server ``url``, a qdrant-client ``local_path``, or ``store``:
    ``":memory:"``, a directory qdrant-client's local mode wrote (it holds ``meta.json``), or
    otherwise a Qdrant Edge store directory.

    >>> import tempfile
    >>> open_location(tempfile.mkdtemp()).kind, open_location(local_path=tempfile.mkdtemp()).kind
    ('edge', 'qdrant-client')
    """
    if sum(x is not None for x in (store, url, local_path)) != 1:
        raise ConfigError("give exactly one of a store directory, a server URL or a qdrant-client local path")
    if url is not None:
        return open_store(url=url, api_key=api_key)
    if local_path is None and store is not None and os.fspath(store) != ":memory:" and (Path(store) / _CLIENT_LOCAL_MARKER).is_file():
        local_path = os.fspath(store)
    if local_path is not None:
        from .store.remote import RemoteStore

        Path(local_path).mkdir(parents=True, exist_ok=True)
        return RemoteStore(path=os.fspath(local_path))
    return open_store(store)


def _check_compatible(src: CollectionSpec, dst: CollectionSpec, collection: str, where: str) -> None:
    a, b = spec_to_json(src), spec_to_json(dst)
    if a != b:
        diff = ", ".join(f"{k}: {a[k]!r} here, {b[k]!r} there" for k in a if a[k] != b.get(k))
        raise ConfigError(f"collection {collection!r} in {where} has another vector configuration ({diff}); migrate into a new collection")
    if dict(src.metadata) != dict(dst.metadata):
        keys = sorted(k for k in set(src.metadata) | set(dst.metadata) if src.metadata.get(k) != dst.metadata.get(k))
        raise FingerprintMismatchError(
            f"collection {collection!r} in {where} was built by other encoders (fingerprint differs in {', '.join(keys)}); "
            "migrate into a new collection (--to-collection)"
        )


def _prepare(source: Store, target: Store, collection: str, to_collection: str, report: MigrateReport) -> CollectionSpec:
    spec = source.spec(collection)
    if target.collection_exists(to_collection):
        existing = target.spec(to_collection)
        _check_compatible(spec, existing, to_collection, target.describe())
        for name, kind in spec.payload_indexes.items():
            if existing.payload_indexes.get(name) != kind:
                target.create_index(to_collection, name, kind)
    else:
        target.create_collection(to_collection, spec.without_server_options())
        report.created = True
    return spec


def _record(p: StoredPoint) -> PointRecord:
    if p.sparse is None:
        raise StoreError(f"point {p.id} came back without its sparse vector")
    return PointRecord(p.id, p.sparse, p.payload, p.dense)


def migrate(
    source: Store,
    target: Store,
    collection: str,
    *,
    to_collection: str | None = None,
    batch_size: int = DEFAULT_MIGRATE_BATCH,
    verify: bool = True,
    sample: int = DEFAULT_SAMPLE,
    queries: int = DEFAULT_QUERIES,
    seed: int = 0,
    show_progress: bool | None = None,
) -> MigrateReport:
    """Copy ``collection`` from ``source`` into ``target`` (as ``to_collection``), then verify it.

    Args:
        source, target: open stores (see :func:`open_location`); they may be of any kind.
        collection: the collection to copy.
        to_collection: its name in the target (default: the same name).
        batch_size: points per page read and written.
        verify: check counts, a sample of points and top-10 queries afterwards; a difference
            raises :class:`MigrationError`.
        sample: points compared for bit-equal vectors and equal payloads.
        queries: sampled points whose stored vectors are run as top-10 queries on both sides.
        seed: seed of the sample.
        show_progress: progress bar; default on when stderr is a terminal.

    Returns:
        A :class:`MigrateReport`.

    Raises:
        CollectionNotFoundError: no such collection in the source.
        ConfigError / FingerprintMismatchError: the target collection exists with another
            vector configuration / encoder fingerprint.
        MigrationError: verification found a difference.
    """
    if batch_size < 1 or sample < 0 or queries < 0:
        raise ConfigError("batch_size must be >= 1, sample and queries >= 0")
    to_collection = to_collection or collection
    if source is target and to_collection == collection:
        raise ConfigError("source and target are the same collection")
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    started = time.perf_counter()
    report = MigrateReport(source.describe(), target.describe(), collection, to_collection)
    spec = _prepare(source, target, collection, to_collection, report)
    report.source_points = source.count(collection)
    bar: Any = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=report.source_points, unit="point", desc=f"migrate {collection}")
    rng = random.Random(seed)
    reservoir: list[str] = []
    seen = 0
    offset: str | None = None
    try:
        while True:
            page, offset = source.scroll(collection, limit=batch_size, offset=offset, with_vectors=True)
            for p in page:  # reservoir sample of ids over the whole collection
                seen += 1
                if len(reservoir) < sample:
                    reservoir.append(p.id)
                elif (j := rng.randrange(seen)) < sample:
                    reservoir[j] = p.id
            present = {q.id: q.payload for q in target.retrieve(to_collection, [p.id for p in page])} if page else {}
            todo = [p for p in page if p.id not in present or not same_payload(present[p.id], p.payload)]
            target.upsert(to_collection, [_record(p) for p in todo])
            report.copied += len(todo)
            report.skipped_existing += len(page) - len(todo)
            if bar is not None:
                bar.update(len(page))
            if offset is None:
                break
    finally:
        if bar is not None:
            bar.close()
    if report.copied:
        target.optimize(to_collection)
    if verify:
        report.problems = _verify(source, target, collection, to_collection, spec, reservoir, queries, report)
        report.verified = not report.problems
    report.seconds = time.perf_counter() - started
    logger.info("migrate: %s", report.as_dict())
    if report.problems:
        raise MigrationError(f"migrated {collection!r} but verification failed: {'; '.join(report.problems[:5])}")
    return report


def _bits(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).view(np.uint32)


def same_dense(a: np.ndarray, b: np.ndarray, distance: str) -> bool:
    """Bit-equal, except cosine vectors: Qdrant normalises those on every insert, and normalising
    a unit vector again moves components by a few ulps (up to 5 seen), so they match within
    ``1e-6`` (8 float32 epsilons of the unit norm).

    >>> v = np.array([0.6, 0.8], dtype=np.float32)
    >>> same_dense(v, np.nextafter(v, np.float32(1)), "cosine"), same_dense(v, np.nextafter(v, np.float32(1)), "dot")
    (True, False)
    """
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        return False
    if distance != "cosine":
        return bool(np.array_equal(_bits(a), _bits(b)))
    return bool(np.max(np.abs(a - b), initial=0.0) <= _COSINE_ATOL)


def _same_vectors(a: StoredPoint, b: StoredPoint, spec: CollectionSpec) -> bool:
    if a.sparse is None or b.sparse is None:
        return a.sparse is b.sparse
    sparse = np.array_equal(a.sparse.indices, b.sparse.indices) and np.array_equal(_bits(a.sparse.values), _bits(b.sparse.values))
    if a.dense is None or b.dense is None or spec.dense is None:
        return sparse and a.dense is None and b.dense is None
    return sparse and same_dense(a.dense, b.dense, spec.dense.distance)


def _same_ranking(a: Sequence[StoredPoint], b: Sequence[StoredPoint]) -> bool:
    """Same hits with the same scores; hits with tied scores may come in either order."""
    if len(a) != len(b):
        return False
    if [p.id for p in a] == [p.id for p in b]:
        return np.allclose([p.score for p in a], [p.score for p in b], rtol=_SCORE_RTOL, atol=1e-7)
    # Ties: group by score; within the last group only some tied points fit in the top 10.
    scores_a, scores_b = np.array([p.score for p in a]), np.array([p.score for p in b])
    if not np.allclose(np.sort(scores_a), np.sort(scores_b), rtol=_SCORE_RTOL, atol=1e-7):
        return False
    last = min(scores_a.min(), scores_b.min())
    above = lambda hits: {p.id for p in hits if not np.isclose(p.score, last, rtol=_SCORE_RTOL, atol=1e-7)}  # noqa: E731
    return above(a) == above(b)


def _verify(
    source: Store, target: Store, collection: str, to_collection: str, spec: CollectionSpec,
    sample_ids: list[str], queries: int, report: MigrateReport,
) -> list[str]:
    problems: list[str] = []
    n_src, n_dst = source.count(collection), target.count(to_collection)
    if n_src != n_dst:
        problems.append(f"{n_src} points in the source, {n_dst} in the target")
    a = {p.id: p for p in source.retrieve(collection, sample_ids, with_vectors=True)}
    b = {p.id: p for p in target.retrieve(to_collection, sample_ids, with_vectors=True)}
    for pid in sample_ids:
        if pid not in b:
            problems.append(f"point {pid} is missing from the target")
        elif pid in a and not _same_vectors(a[pid], b[pid], spec):
            problems.append(f"point {pid} has different vectors in the target")
        elif pid in a and not same_payload(b[pid].payload, a[pid].payload):
            problems.append(f"point {pid} has a different payload in the target")
    report.sample_checked = len(sample_ids)
    probes: list[SparseQuery | DenseQuery] = []
    for pid in sample_ids[:queries]:
        p = a.get(pid)
        if p is not None and p.sparse is not None:
            probes.append(SparseQuery(p.sparse, spec.sparse_name))
        if p is not None and p.dense is not None and spec.dense is not None:
            probes.append(DenseQuery(p.dense, spec.dense.name))
    if probes:
        hits_a = source.query_batch(collection, probes, limit=_TOP)
        hits_b = target.query_batch(to_collection, probes, limit=_TOP)
        for k, (x, y) in enumerate(zip(hits_a, hits_b)):
            if not _same_ranking(x, y):
                problems.append(f"query {k} (stored vector of a sampled point) ranks differently: "
                                f"{[h.id[:8] for h in x]} vs {[h.id[:8] for h in y]}")
    report.queries_checked = len(probes)
    return problems
