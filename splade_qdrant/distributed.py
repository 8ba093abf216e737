"""Distributed document encoding on Ray Data (extra ``[ray]``).

The corpus is read with Ray Data (``read_text``: one JSON document per line), parsed into the
same documents, deterministic point ids, content hashes and payloads as the single-process
:func:`splade_qdrant.ingest.ingest`, and encoded by ``map_batches`` on a pool of actors, each
loading the document encoder once (one per GPU with ``gpus_per_worker=1``, else one per CPU
slot). Then the points are written:

* **to a server** (``url=``): each actor upserts its own batches straight to Qdrant, so no
  vector crosses the driver;
* **to the embedded store** (a directory, or a :class:`~splade_qdrant.store.Store` object):
  vectors stream back to the driver, the one process that owns the Qdrant Edge directory,
  which writes them in batches.

Resume works as in the single-process ingest: when the collection already holds points, a
light first pass reads every document's id, content hash and payload, looks them up in the
store, and documents stored unchanged are filtered out before the encoder sees them. The
collection records the same encoder fingerprint, so a later single-process ingest, search
or ``migrate`` treats it like any other.

Not supported here (refused with a clear error): dense vectors, ``long_docs="chunk"``.
Duplicate document ids in one corpus are not detected (one of them is stored; which one
depends on scheduling). A line that is not valid UTF-8 fails the read.

Example:
    >>> import ray  # doctest: +SKIP
    >>> ray.init(num_cpus=2)  # doctest: +SKIP
    >>> from splade_qdrant.options import EncoderOptions
    >>> report = ingest_ray("cran", "../shared/datasets/cranfield/corpus.jsonl", store="./data",
    ...                     options=EncoderOptions(model="../shared/models/splade-tiny", long_docs="truncate"),
    ...                     workers=2)  # doctest: +SKIP
    >>> report.points_in_collection  # doctest: +SKIP
    1400
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .documents import BadInput, count_lines
from .errors import CollectionExistsError, ConfigError, InputError, MissingDependencyError
from .ingest import IngestReport, document_hash, make_payload, point_id, same_payload
from .ingest.checks import check_existing, new_spec
from .options import EncoderOptions
from .sparse import SparseVector
from .store import Store, open_store
from .store.base import PointRecord, SparseDatatype

__all__ = ["DEFAULT_RAY_BATCH", "ingest_ray"]

logger = logging.getLogger(__name__)

#: Documents per ``map_batches`` call (each actor encodes them in ``batch_size`` forward passes).
DEFAULT_RAY_BATCH = 256
#: Points per store write.
DEFAULT_UPSERT_BATCH = 256
_LOOKUP_BATCH = 1000
_READ_CPUS = 0.0
#: Blocks per encoder actor the corpus is split into (more: finer load balancing, more overhead).
_BLOCKS_PER_WORKER = 8


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError("ray[data]", "ray", "distributed encoding (--ray)") from None
    return ray


# --------------------------------------------------------------------------- stages (run in Ray workers)


def _parse_batch(batch: dict[str, np.ndarray], *, source: str, store_text: bool) -> dict[str, np.ndarray]:
    """JSONL lines → point_id, doc_id, text, payload (JSON), error (empty when the line is good)."""
    from .documents import _from_mapping  # the single-process ingest's own validation

    out: dict[str, list[Any]] = {"point_id": [], "doc_id": [], "text": [], "payload": [], "error": []}
    for line in batch["text"]:
        line = str(line).lstrip("\ufeff")
        try:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"malformed JSON ({exc.msg} at column {exc.colno})", source=source) from None
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", source=source)
            if "dense_vector" in obj:
                raise InputError("'dense_vector' is not supported by the distributed ingest", source=source)
            doc = _from_mapping(obj, source, None)
        except InputError as err:
            out["point_id"].append("")
            out["doc_id"].append(err.doc_id or "")
            out["text"].append("")
            out["payload"].append("")
            out["error"].append(err.reason)
            continue
        out["point_id"].append(point_id(doc.id))
        out["doc_id"].append(doc.id)
        out["text"].append(doc.text)
        out["payload"].append(json.dumps(make_payload(doc, document_hash(doc), store_text)))
        out["error"].append("")
    return {k: np.array(v, dtype=object) for k, v in out.items()}


class _EncodeActor:
    """Loads the document encoder once; encodes batches and, with ``server``, writes them too."""

    def __init__(
        self, options: EncoderOptions, threads: int, server: Mapping[str, Any] | None, collection: str,
        upsert_batch: int, skip: list[Any],
    ) -> None:
        import ray
        import torch

        from .pair import EncoderPair

        # ``skip`` wraps the object ref of the unchanged ids in a list so that it arrives unresolved.
        self.skip: frozenset[str] = ray.get(skip[0]) if skip else frozenset()
        if threads > 0:
            torch.set_num_threads(threads)
        self.encoder = EncoderPair.from_options(options).document
        self.collection, self.upsert_batch = collection, upsert_batch
        self.store: Store | None = None
        if server is not None:
            self.store = open_store(url=server["url"], api_key=server.get("api_key"), prefer_grpc=bool(server.get("prefer_grpc")))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        skipped = np.array([bool(not e and p in self.skip) for p, e in zip(batch["point_id"], batch["error"])], dtype=bool)
        good = [i for i, e in enumerate(batch["error"]) if not e and not skipped[i]]
        long_before = self.encoder.long_texts
        t0 = time.perf_counter()
        vectors = self.encoder.encode([str(batch["text"][i]) for i in good]) if good else []
        encode_s = np.zeros(len(batch["error"]), dtype=np.float64)
        n = len(batch["error"])
        indices: list[bytes] = [b""] * n
        values: list[bytes] = [b""] * n
        nnz = np.zeros(n, dtype=np.int64)
        for i, vec in zip(good, vectors):
            indices[i] = vec.indices.astype(np.uint32).tobytes()
            values[i] = vec.values.astype(np.float32).tobytes()
            nnz[i] = len(vec)
        long_docs = np.zeros(n, dtype=np.int64)
        if n:
            long_docs[0] = self.encoder.long_texts - long_before  # per-batch figures, summed by the driver
            encode_s[0] = time.perf_counter() - t0
        out = {"point_id": batch["point_id"], "doc_id": batch["doc_id"], "error": batch["error"], "nnz": nnz, "long": long_docs, "skipped": skipped, "encode_s": encode_s}
        if self.store is not None:
            points = [_record(batch["point_id"][i], batch["payload"][i], indices[i], values[i]) for i in good]
            for start in range(0, len(points), self.upsert_batch):
                self.store.upsert(self.collection, points[start : start + self.upsert_batch])
            return out
        return {**out, "payload": batch["payload"], "indices": np.array(indices, dtype=object), "values": np.array(values, dtype=object)}


def _record(pid: Any, payload: Any, indices: Any, values: Any) -> PointRecord:
    vec = SparseVector.from_arrays(np.frombuffer(indices, dtype=np.uint32), np.frombuffer(values, dtype=np.float32))
    return PointRecord(str(pid), vec, json.loads(payload))


# --------------------------------------------------------------------------- driver


def _ensure_collection(store: Store, collection: str, options: EncoderOptions, sparse_datatype: SparseDatatype | None) -> None:
    """Create the collection with the encoder fingerprint, or check the recorded one (the same
    checks as the single-process ingest). The driver loads the pair on the CPU for its settings."""
    from .pair import EncoderPair

    recorded = store.spec(collection).metadata if store.collection_exists(collection) else None
    pair = EncoderPair.from_options(replace(options, device="cpu", half=False), recorded=recorded)
    if recorded is None:
        try:
            store.create_collection(collection, new_spec(pair, None, sparse_datatype=sparse_datatype, idf=None))
            return
        except CollectionExistsError:
            pass
    spec = store.spec(collection)
    if spec.dense is not None:
        raise ConfigError(f"collection {collection!r} has dense vectors; the distributed ingest writes sparse vectors only")
    check_existing(spec, collection, pair, None, sparse_datatype=sparse_datatype, idf=None)


def _unchanged_ids(parsed: Any, store: Store, collection: str, report: IngestReport) -> frozenset[str]:
    """Point ids whose stored content hash and payload equal the corpus's (first, light pass)."""
    unchanged: set[str] = set()
    for batch in parsed.select_columns(["point_id", "payload", "error"]).iter_batches(batch_size=_LOOKUP_BATCH, batch_format="numpy"):
        wanted = {str(p): json.loads(pl) for p, pl, e in zip(batch["point_id"], batch["payload"], batch["error"]) if not e}
        for stored in store.retrieve(collection, list(wanted)):
            want = wanted[stored.id]
            if stored.payload.get("content_hash") == want["content_hash"] and same_payload(stored.payload, want):
                unchanged.add(stored.id)
    report.skipped_unchanged = len(unchanged)
    return frozenset(unchanged)


def ingest_ray(
    collection: str,
    documents: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    options: EncoderOptions,
    store: str | os.PathLike[str] | Store | None = None,
    url: str | None = None,
    api_key: str | None = None,
    prefer_grpc: bool = False,
    workers: int = 1,
    gpus_per_worker: float = 0.0,
    cpus_per_worker: float = 1.0,
    ray_address: str | None = None,
    store_text: bool = False,
    skip_unchanged: bool = True,
    skip_bad: bool = False,
    sparse_datatype: SparseDatatype | None = None,
    batch_size: int = DEFAULT_RAY_BATCH,
    upsert_batch: int = DEFAULT_UPSERT_BATCH,
    optimize: bool = True,
    show_progress: bool | None = None,
) -> IngestReport:
    """Encode a JSONL corpus on a Ray cluster and upsert it into ``collection``.

    Args:
        collection: collection name (created on first use, with the encoder fingerprint).
        documents: one or more JSONL / BEIR ``corpus.jsonl`` files (paths every Ray node can read).
        options: the encoders (:class:`~splade_qdrant.options.EncoderOptions`); each actor loads
            them once, on ``cuda`` when ``gpus_per_worker`` > 0 (Ray assigns its GPU).
        store: embedded store directory, ``":memory:"`` or an open :class:`Store`: vectors stream
            back to this process, which writes them.
        url, api_key, prefer_grpc: a Qdrant server instead: the actors write to it directly.
            With an open server ``store`` as well (e.g. with creation defaults set), this
            process creates and checks the collection through it and the actors use ``url``.
        workers: encoder actors (one model copy each).
        gpus_per_worker: GPUs per actor (0: CPU; 1: one actor per GPU; fractions share a GPU).
        cpus_per_worker: CPU slots per actor (and torch threads on CPU).
        ray_address: cluster to join (``"auto"``, ``"ray://host:10001"``); None: the running
            ``ray.init()`` of this process, or a new local one.
        store_text, skip_unchanged, skip_bad, sparse_datatype, upsert_batch, optimize,
            show_progress: as in :func:`splade_qdrant.ingest.ingest`.
        batch_size: documents per ``map_batches`` call.

    Returns:
        An :class:`~splade_qdrant.ingest.IngestReport`; ``encode_seconds`` is the encoding time
        summed over the actors (they run in parallel, so it can exceed ``seconds``).
    """
    if workers < 1 or gpus_per_worker < 0 or cpus_per_worker <= 0 or batch_size < 1 or upsert_batch < 1:
        raise ConfigError("workers, batch_size and upsert_batch must be >= 1, cpus_per_worker > 0, gpus_per_worker >= 0")
    if not isinstance(options, EncoderOptions):
        raise ConfigError(f"options must be an EncoderOptions, got {type(options).__name__}")
    if options.long_docs == "chunk":
        raise ConfigError("--long-docs chunk is not supported with --ray; use window or truncate")
    if store is not None and not isinstance(store, Store) and url is not None:
        raise ConfigError("give a store directory or a url, not both")
    paths = [os.fspath(documents)] if isinstance(documents, (str, os.PathLike)) else [os.fspath(p) for p in documents]
    for p in paths:
        if not os.path.isfile(p):
            raise InputError(f"file not found: {p}")
    paths = [os.path.abspath(p) for p in paths]
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    ray = _ray()
    started_ray = False
    if not ray.is_initialized():
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False)
        started_ray = True
    ray.data.DataContext.get_current().enable_progress_bars = False
    owned = not isinstance(store, Store)
    target: Store = store if isinstance(store, Store) else open_store(store, url=url, api_key=api_key, prefer_grpc=prefer_grpc)
    started = time.perf_counter()
    report = IngestReport(collection, long_docs=options.long_docs)
    try:
        _ensure_collection(target, collection, options, sparse_datatype)
        source = paths[0] if len(paths) == 1 else "<corpus>"
        # Reading and parsing reserve no CPU slot: with the actors holding every slot (2 workers on
        # a 2-CPU cluster), a read task that needs even 0.1 CPU would never be scheduled.
        # A file is read by one task whose output is split into blocks; enough blocks give every
        # actor work (a repartition step would need a CPU slot of its own, see above).
        lines = sum(count_lines(p) for p in paths)
        blocks = max(len(paths), min(_BLOCKS_PER_WORKER * workers, -(-lines // batch_size)))
        parsed = ray.data.read_text(paths, num_cpus=_READ_CPUS, override_num_blocks=blocks).map_batches(
            _parse_batch, fn_kwargs={"source": source, "store_text": store_text}, batch_format="numpy", batch_size=batch_size,
            num_cpus=_READ_CPUS,
        )
        skip: list[Any] = []
        if skip_unchanged and target.count(collection) > 0:
            skip = [ray.put(_unchanged_ids(parsed, target, collection, report))]
        server = None if url is None else {"url": url, "api_key": api_key, "prefer_grpc": prefer_grpc}
        device = "cuda" if gpus_per_worker > 0 else options.device or "cpu"
        encoded = parsed.map_batches(
            _EncodeActor,
            fn_constructor_kwargs={
                "options": replace(options, device=device), "threads": 0 if gpus_per_worker > 0 else max(1, int(cpus_per_worker)),
                "server": server, "collection": collection, "upsert_batch": upsert_batch, "skip": skip,
            },
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker or None,
        )
        _drain(encoded, target, collection, report, source, skip_bad=skip_bad, write=server is None, upsert_batch=upsert_batch,
               total=lines if show_progress else None, show_progress=show_progress)
        if optimize and report.points_written:
            target.optimize(collection)
        report.points_in_collection = target.count(collection)
    finally:
        if owned:
            target.close()
        if started_ray:
            ray.shutdown()
    report.seconds = time.perf_counter() - started
    logger.info("distributed ingest into %s: %s", collection, report.as_dict())
    return report


def _drain(
    encoded: Any, store: Store, collection: str, report: IngestReport, source: str, *,
    skip_bad: bool, write: bool, upsert_batch: int, total: int | None, show_progress: bool,
) -> None:
    """Consume the pipeline's output on the driver: count, record bad lines, write (embedded store)."""
    bar: Any = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="doc", desc=f"ingest {collection} (ray)")
    try:
        for batch in _batches(encoded, upsert_batch):
            points: list[PointRecord] = []
            for k, error in enumerate(batch["error"]):
                if error:
                    if not skip_bad:
                        raise InputError(str(error), source=source, doc_id=str(batch["doc_id"][k]) or None)
                    report.bad.append(BadInput(source, None, str(batch["doc_id"][k]) or None, str(error)))
                    continue
                report.documents += 1
                if batch["skipped"][k]:
                    continue
                report.total_nnz += int(batch["nnz"][k])
                if write:
                    points.append(_record(batch["point_id"][k], batch["payload"][k], batch["indices"][k], batch["values"][k]))
            report.long_documents += int(np.sum(batch["long"]))
            report.encode_seconds += float(np.sum(batch["encode_s"]))
            if write:
                store.upsert(collection, points)
            report.points_written += len(points) if write else sum(1 for e, s in zip(batch["error"], batch["skipped"]) if not e and not s)
            if bar is not None:
                bar.update(len(batch["error"]))
    finally:
        if bar is not None:
            bar.close()


def _batches(ds: Any, size: int) -> Iterator[dict[str, np.ndarray]]:
    yield from ds.iter_batches(batch_size=size, batch_format="numpy")
