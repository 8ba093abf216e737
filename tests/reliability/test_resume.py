"""SIGKILL an ingest mid-way, rerun the same command: exactly one point per document.

The first run is a real ``python -m splade_qdrant --verbose ingest`` subprocess; its log
says when writes are acknowledged. While it runs, the store is locked against other
processes; after SIGKILL (no cleanup) the rerun must replay the WAL, skip what is stored
and encode only the rest.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from splade_qdrant.errors import StoreUnavailableError
from splade_qdrant.ingest import point_id
from splade_qdrant.store.base import SparseQuery
from splade_qdrant.store.edge import EdgeStore

from .rel_helpers import CRANFIELD, REPO, cli, model_args

_WRITTEN = re.compile(r"(\d+) points written$")


@pytest.mark.slow  # a real ingest subprocess killed mid-run
def test_sigkill_mid_ingest_then_rerun_completes(tmp_path, pair):
    corpus = CRANFIELD / "corpus.jsonl"
    with open(corpus, encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh if line.strip()]
    ids = [d["_id"] for d in docs]
    store_dir = tmp_path / "store"
    args = ["ingest", str(corpus), "--store", str(store_dir), "-c", "cran", *model_args(), "--json"]

    proc = subprocess.Popen(
        [sys.executable, "-m", "splade_qdrant", "--verbose", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    watchdog = threading.Timer(600, proc.kill)
    watchdog.start()
    acked = 0
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            m = _WRITTEN.search(line.strip())
            if m:
                acked = int(m.group(1))
                # the live writer holds the collection: another process cannot open it
                with EdgeStore(store_dir) as other, pytest.raises(StoreUnavailableError, match="in use by another process"):
                    other.count("cran")
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    assert 0 < acked < len(ids)

    rerun = cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["skipped_unchanged"] >= acked  # everything acknowledged survived the kill
    assert report["points_written"] == len(ids) - report["skipped_unchanged"]  # only the rest was encoded
    assert report["points_in_collection"] == len(ids)
    assert report["bad"] == []

    with EdgeStore(store_dir) as store:  # opens cleanly, WAL replayed
        assert store.count("cran") == len(ids)
        points = store.retrieve("cran", [point_id(i) for i in ids], with_vectors=True)
        assert sorted(p.payload["doc_id"] for p in points) == sorted(ids)  # no duplicates, none missing
        by_id = {p.payload["doc_id"]: p for p in points}
        # vectors written before the kill and by the rerun are intact
        sample = ids[:5] + ids[-5:]
        texts = [f"{d['title'].strip()} {d['text'].strip()}" if d["title"].strip() else d["text"].strip() for d in docs]
        refs = pair.document.encode([texts[ids.index(i)] for i in sample])
        dim = pair.document.mlm.vocab_size
        for doc_id, ref in zip(sample, refs):
            got = by_id[doc_id].sparse.to_dense(dim)
            np.testing.assert_allclose(got, ref.to_dense(dim), atol=1e-5, rtol=1e-4)  # batches differ: float noise only
        hits = store.query("cran", SparseQuery(by_id[ids[0]].sparse, "splade"), limit=10)
        assert len(hits) == 10 and hits[0].payload["doc_id"] in ids
