"""Retrieval quality on BEIR-layout test collections, through the library's own search path.

Reads ``queries.jsonl`` and ``qrels/test.tsv``, runs every judged query through a
:class:`~splade_qdrant.search.Searcher` one at a time (so latencies are real per-query
figures: encoding + search), and scores the run with ``ir-measures``: nDCG@10, MRR@10,
R@100 (and R@1000 when the limit allows).

Example:
    >>> qrels = {"q1": {"d1": 1, "d2": 0}}
    >>> run = {"q1": [("d2", 2.0), ("d1", 1.0)]}
    >>> {k: round(v, 4) for k, v in score_run(qrels, run, limit=100).items()}
    {'nDCG@10': 0.6309, 'MRR@10': 0.5, 'R@100': 1.0}
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from .config import DEFAULT_EVAL_LIMIT
from .errors import ConfigError, InputError, MissingDependencyError
from .fusion import DEFAULT_RRF_K
from .search import FusionMethod, Mode, Searcher

__all__ = ["EvalResult", "ModeResult", "RunConfig", "evaluate", "load_qrels", "load_queries", "score_run", "sweep_configs"]

Run = Mapping[str, Sequence[tuple[str, float]]]

_SCORE_CHUNK = 256  #: queries run, scored and written at a time by :func:`evaluate`


@dataclass(frozen=True)
class RunConfig:
    """One retrieval configuration to evaluate."""

    mode: Mode
    fusion: FusionMethod = "rrf"
    rrf_k: int = DEFAULT_RRF_K
    weights: tuple[float, float] | None = None
    #: Label in tables and JSON; default: the mode for sparse/dense, a description for hybrid.
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name is not None:
            return self.name
        if self.mode != "hybrid":
            return self.mode
        if self.fusion == "dbsf":
            return "hybrid dbsf"
        w = "" if self.weights is None else f" w={self.weights[0]:g},{self.weights[1]:g}"
        return f"hybrid rrf k={self.rrf_k}{w}"


@dataclass
class ModeResult:
    """Metrics and speed of one configuration. Latencies in milliseconds."""

    config: RunConfig
    metrics: dict[str, float]
    queries: int
    queries_per_s: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            **{k: round(v, 4) for k, v in self.metrics.items()},
            "queries": self.queries,
            "queries_per_s": round(self.queries_per_s, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
        }


@dataclass
class EvalResult:
    """All configurations evaluated on one dataset."""

    dataset: str
    collection: str
    results: list[ModeResult] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """``{"sparse": {...}, "dense": {...}, "hybrid": {...}}`` keyed by configuration label."""
        return {r.config.label: r.as_dict() for r in self.results}

    def table(self) -> str:
        """An aligned text table, best nDCG@10 first."""
        rows = sorted(self.results, key=lambda r: -r.metrics.get("nDCG@10", 0.0))
        names = list(rows[0].metrics) if rows else []
        head = f"{'run':<24}" + "".join(f"{n:>9}" for n in names) + f"{'q/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        lines = [f"{self.dataset} — collection {self.collection!r}", head, "-" * len(head)]
        for r in rows:
            cells = "".join(f"{r.metrics[n]:>9.4f}" for n in names)
            lines.append(f"{r.config.label:<24}{cells}{r.queries_per_s:>9.1f}{r.p50_ms:>9.2f}{r.p99_ms:>9.2f}")
        return "\n".join(lines)


def load_queries(dataset_dir: str | os.PathLike[str]) -> dict[str, str]:
    """``{query id: text}`` from ``queries.jsonl``."""
    path = Path(dataset_dir) / "queries.jsonl"
    if not path.is_file():
        raise InputError(f"no queries.jsonl in {dataset_dir} (expected BEIR layout)")
    out: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                out[str(obj["_id"] if "_id" in obj else obj["id"])] = str(obj["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InputError(f"bad query line ({exc})", source=str(path), line=line_no) from None
    return out


def load_qrels(dataset_dir: str | os.PathLike[str], split: str = "test") -> dict[str, dict[str, int]]:
    """``{query id: {doc id: grade}}`` from ``qrels/<split>.tsv`` (header line skipped)."""
    path = Path(dataset_dir) / "qrels" / f"{split}.tsv"
    if not path.is_file():
        raise InputError(f"no qrels/{split}.tsv in {dataset_dir} (expected BEIR layout)")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if line_no == 1 and not parts[-1].lstrip("-").isdigit():
                continue
            if len(parts) < 3:
                continue
            try:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
            except ValueError:
                raise InputError(f"bad qrels line {line!r}", source=str(path), line=line_no) from None
    return qrels


def _measures(limit: int) -> list[Any]:
    try:
        import ir_measures
    except ImportError:
        raise MissingDependencyError("ir-measures", "eval", "evaluation") from None
    names = ["nDCG@10", "RR@10", "R@100"] + (["R@1000"] if limit >= 1000 else [])
    return [ir_measures.parse_measure(n) for n in names]


def score_run(qrels: Mapping[str, Mapping[str, int]], run: Run, *, limit: int) -> dict[str, float]:
    """Mean metrics of a run with ir-measures (RR@10 is reported as MRR@10)."""
    scorer = _Scorer(qrels, limit)
    scorer.add(run)
    return scorer.means()


class _Scorer:
    """Mean metrics of a run given a part at a time, so that :func:`evaluate` never holds a
    whole run (100k queries x 1,000 hits would be ~10 GB of tuples). Every measure here is a
    mean over the judged queries of per-query values (a judged query without hits counts as
    0, as in ``ir_measures.calc_aggregate``), so the parts give the same means as the whole."""

    def __init__(self, qrels: Mapping[str, Mapping[str, int]], limit: int) -> None:
        self.measures = _measures(limit)
        self.qrels = qrels
        self.judged = sum(1 for docs in qrels.values() if docs)
        self.sums = {str(m): 0.0 for m in self.measures}

    def add(self, run: Run) -> None:
        import ir_measures

        qrel_rows = [ir_measures.Qrel(q, d, int(g)) for q in run for d, g in self.qrels.get(q, {}).items()]
        run_rows = [ir_measures.ScoredDoc(q, d, float(s)) for q, hits in run.items() for d, s in hits]
        for metric in ir_measures.iter_calc(self.measures, qrel_rows, run_rows):
            self.sums[str(metric.measure)] += float(metric.value)

    def means(self) -> dict[str, float]:
        return {name.replace("RR@10", "MRR@10"): total / max(self.judged, 1) for name, total in self.sums.items()}


def sweep_configs() -> list[RunConfig]:
    """Each side alone, RRF with k ∈ {2, 10, 60} and a few weightings, and DBSF."""
    configs = [RunConfig("sparse"), RunConfig("dense")]
    configs += [RunConfig("hybrid", "rrf", k) for k in (2, 10, 60)]
    configs += [RunConfig("hybrid", "rrf", 60, w) for w in ((2.0, 1.0), (1.0, 2.0), (3.0, 1.0), (1.0, 3.0))]
    configs.append(RunConfig("hybrid", "dbsf"))
    return configs


def write_trec_run(path: str | os.PathLike[str], run: Run, *, name: str) -> None:
    """Write a run in TREC format: ``qid Q0 docid rank score name``."""
    with open(path, "w", encoding="utf-8") as fh:
        _write_trec(fh, run, name)


def _write_trec(fh: IO[str], run: Run, name: str) -> None:
    tag = name.replace(" ", "_")
    for qid, hits in run.items():
        for rank, (doc, score) in enumerate(hits, start=1):
            fh.write(f"{qid} Q0 {doc} {rank} {float(score)!r} {tag}\n")


def evaluate(
    searcher: Searcher,
    dataset_dir: str | os.PathLike[str],
    *,
    configs: Sequence[RunConfig] = (RunConfig("sparse"),),
    limit: int = DEFAULT_EVAL_LIMIT,
    run_file: str | os.PathLike[str] | None = None,
) -> EvalResult:
    """Run every judged query of ``dataset_dir`` for each configuration and score it.

    Args:
        searcher: bound to the collection that holds the dataset's corpus.
        dataset_dir: BEIR layout folder (``queries.jsonl``, ``qrels/test.tsv``).
        configs: configurations to run (see :func:`sweep_configs`).
        limit: hits per query (R@1000 is reported when ``limit >= 1000``).
        run_file: write each configuration's run in TREC format here (one configuration),
            or to ``<run_file>.<label>`` (several).
    """
    if limit < 10:
        raise ConfigError("limit must be >= 10 for nDCG@10")
    _measures(limit)  # fail early if ir-measures is missing
    queries = load_queries(dataset_dir)
    qrels = load_qrels(dataset_dir)
    judged = [q for q in queries if q in qrels]
    if not judged:
        raise InputError(f"no query in {dataset_dir}/queries.jsonl has judgements in qrels/test.tsv")
    result = EvalResult(Path(dataset_dir).name, searcher.collection)
    for config in configs:
        if config.mode != "sparse" and not searcher.has_dense:
            raise ConfigError(f"{config.label} needs dense vectors; collection {searcher.collection!r} has none")
        options: dict[str, Any] = {"limit": limit, "mode": config.mode}
        if config.mode == "hybrid":
            options.update(fusion=config.fusion, rrf_k=config.rrf_k, weights=config.weights)
        searcher.search(queries[judged[0]], **options)  # warm-up (loads models)
        target = None
        if run_file is not None:
            target = run_file if len(configs) == 1 else f"{os.fspath(run_file)}.{config.label.replace(' ', '_')}"
        scorer = _Scorer(qrels, limit)
        latencies = np.empty(len(judged))
        with open(target, "w", encoding="utf-8") if target is not None else contextlib.nullcontext() as fh:
            for start in range(0, len(judged), _SCORE_CHUNK):  # a part of the run at a time: memory stays flat
                part: dict[str, list[tuple[str, float]]] = {}
                for k, qid in enumerate(judged[start : start + _SCORE_CHUNK], start=start):
                    t0 = time.perf_counter()
                    hits = searcher.search(queries[qid], **options)
                    latencies[k] = time.perf_counter() - t0
                    part[qid] = [(h.id, h.score) for h in hits]
                scorer.add(part)
                if fh is not None:
                    _write_trec(fh, part, config.label)
        lat = latencies * 1000
        result.results.append(
            ModeResult(
                config,
                scorer.means(),
                len(judged),
                len(judged) / float(np.sum(latencies)),
                float(np.percentile(lat, 50)),
                float(np.percentile(lat, 99)),
            )
        )
    return result
