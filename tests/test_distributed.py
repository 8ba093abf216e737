"""Distributed encoding on Ray Data: the same points as the single-process ingest.

The fast tests check the parsing stage (ids, hashes, payloads as the single-process ingest
makes them, bad lines) and the CLI's option checks without starting Ray. The slow tests start
one local Ray cluster (``ray.init(num_cpus=2)``, ~20-60 s here) for the whole module: all of
Cranfield with 2 encoder actors must give the points the one-process ingest gives (ids,
payloads, vectors within VECTOR_TOL = 1e-5), and a rerun must skip every unchanged document.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from splade_qdrant.cli import main
from splade_qdrant.documents import iter_documents
from splade_qdrant.ingest import document_hash, make_payload, point_id

from .helpers import CRAN_COLLECTION, DOC_MAX_LENGTH, QUERY_MAX_LENGTH

# Ray is imported only by the slow tests' cluster fixture (``import ray.data`` takes ~2 s, pandas
# included), so the fast tier does not pay for it; without Ray installed the module is skipped.
if importlib.util.find_spec("ray") is None:
    pytest.skip("could not import 'ray.data': No module named 'ray'", allow_module_level=True)

#: The encoder's own tolerance between batchings (tests/test_encoder_unit.py: batched vs one by
#: one): the actors encode other batches than the single process (256 documents per call), and
#: float32 GEMMs of other shapes round differently. Measured: Ray vs one process max 2.8e-6; one
#: process, the same 200 Cranfield documents in one call vs two calls of 100: 3.8e-6 (torch
#: threads 1 vs 2: identical). The issue's 1e-6 is not met for that reason, not because of Ray.
VECTOR_TOL = 1e-5


def test_parse_stage_makes_the_single_process_ids_hashes_and_payloads() -> None:
    from splade_qdrant.distributed import _parse_batch

    lines = [
        json.dumps({"_id": "a", "title": "Wing", "text": " lift ", "year": 1962, "tags": ["x", 1.5]}),
        "\ufeff" + json.dumps({"id": 7, "text": "drag"}),
        "{not json",
        json.dumps({"_id": "b"}),
        json.dumps({"_id": "c", "text": "t", "content_hash": "mine"}),
    ]
    out = _parse_batch({"text": np.array(lines, dtype=object)}, source="corpus.jsonl", store_text=True)
    docs = list(iter_documents([json.loads(lines[0]), json.loads(lines[1][1:])]))
    for k, doc in enumerate(docs):
        assert out["point_id"][k] == point_id(doc.id) and out["doc_id"][k] == doc.id and out["text"][k] == doc.text
        assert json.loads(out["payload"][k]) == make_payload(doc, document_hash(doc), store_text=True)
        assert out["error"][k] == ""
    assert "malformed JSON" in out["error"][2]
    assert "'text' is missing" in out["error"][3] and out["doc_id"][3] == "b"
    assert "reserved" in out["error"][4]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "2"], "--workers needs --ray"),
        (["--ray", "--insert-only"], "--insert-only is not supported with --ray"),
        (["--ray", "--long-docs", "chunk"], "--long-docs chunk is not supported with --ray"),
    ],
)
def test_cli_refuses_what_the_distributed_ingest_cannot_do(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "1", "text": "x"}\n', encoding="utf-8")
    code = main(["ingest", str(corpus), "-c", "d", "--store", str(tmp_path / "s"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


# --------------------------------------------------------------------------- a local Ray cluster


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    pytest.importorskip("ray.data")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _points(store: Any, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    offset = None
    while True:
        page, offset = store.scroll(name, limit=500, offset=offset, with_vectors=True)
        out.update({p.id: p for p in page})
        if offset is None:
            return out


@pytest.mark.slow
def test_two_ray_workers_give_the_points_of_one_process(
    local_ray: Any, cran_edge: Any, tiny_model_dir: Path, cranfield_dir: Path, tmp_path: Path
) -> None:
    from splade_qdrant.distributed import ingest_ray
    from splade_qdrant.options import EncoderOptions
    from splade_qdrant.store import open_store

    options = EncoderOptions(
        model=str(tiny_model_dir), doc_max_length=DOC_MAX_LENGTH, query_max_length=QUERY_MAX_LENGTH, long_docs="truncate", device="cpu"
    )
    corpus = tmp_path / "corpus.jsonl"
    shutil.copy(cranfield_dir / "corpus.jsonl", corpus)
    with open_store(tmp_path / "store") as store:
        report = ingest_ray(CRAN_COLLECTION, corpus, options=options, store=store, workers=2, show_progress=False)
        assert (report.documents, report.points_written, report.points_in_collection) == (1400, 1400, 1400)
        assert report.long_documents == cran_edge.report.long_documents
        assert store.metadata(CRAN_COLLECTION)["document"] == cran_edge.store.metadata(CRAN_COLLECTION)["document"]
        ray_points, one_process = _points(store, CRAN_COLLECTION), _points(cran_edge.store, CRAN_COLLECTION)
        assert ray_points.keys() == one_process.keys()
        for pid, want in one_process.items():
            got = ray_points[pid]
            assert got.payload == want.payload
            assert np.array_equal(got.sparse.indices, want.sparse.indices)
            np.testing.assert_allclose(got.sparse.values, want.sparse.values, rtol=0, atol=VECTOR_TOL)

        # Resume: a rerun skips every unchanged document; a changed one is re-encoded alone.
        again = ingest_ray(CRAN_COLLECTION, corpus, options=options, store=store, workers=2, show_progress=False)
        assert (again.skipped_unchanged, again.points_written) == (1400, 0)
        lines = corpus.read_text(encoding="utf-8").splitlines()
        first = json.loads(lines[0])
        first["text"] = "slipstream effects on a wing at hypersonic speed"
        lines[0] = json.dumps(first)
        corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        changed = ingest_ray(CRAN_COLLECTION, corpus, options=options, store=store, workers=2, show_progress=False)
        assert (changed.skipped_unchanged, changed.points_written, changed.points_in_collection) == (1399, 1, 1400)
        stored = store.retrieve(CRAN_COLLECTION, [point_id(str(first["_id"]))])[0]
        assert stored.payload["content_hash"] != one_process[stored.id].payload["content_hash"]
