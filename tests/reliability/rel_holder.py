"""Helper process for the two-process tests (run as a script; not a test module).

    python rel_holder.py hold DIR      create collection 'c' with points 0..499, print "ready",
                                   wait for a line on stdin, add points 500..999, exit
    python rel_holder.py race DIR TAG  print "ready"; for each line NAME on stdin, try to create
                                   collection NAME and write 50 points tagged TAG; print the outcome
"""

from __future__ import annotations

import sys

import numpy as np

from splade_qdrant.errors import CollectionExistsError, StoreUnavailableError
from splade_qdrant.sparse import SparseVector
from splade_qdrant.store.base import CollectionSpec, PointRecord
from splade_qdrant.store.edge import EdgeStore


def points(lo: int, hi: int, tag: str = "holder") -> list[PointRecord]:
    """Deterministic points ``lo..hi-1``: 30 random terms each, payload ``{"i": i, "tag": tag}``."""
    out = []
    for i in range(lo, hi):
        rng = np.random.default_rng(i)
        idx = rng.choice(5000, size=30, replace=False)
        out.append(PointRecord(f"00000000-0000-5000-8000-{i:012d}", SparseVector.from_arrays(idx, rng.random(30) + 0.01), {"i": i, "tag": tag}))
    return out


def hold(root: str) -> None:
    with EdgeStore(root) as store:
        store.create_collection("c", CollectionSpec())
        store.upsert("c", points(0, 500))
        print("ready", flush=True)
        sys.stdin.readline()
        store.upsert("c", points(500, 1000))
    print("done", flush=True)


def race(root: str, tag: str) -> None:
    with EdgeStore(root) as store:
        print("ready", flush=True)
        for line in sys.stdin:
            name = line.strip()
            try:
                store.create_collection(name, CollectionSpec())
                store.upsert(name, points(0, 50, tag))
                print("created", flush=True)
            except CollectionExistsError:
                print("exists", flush=True)
            except StoreUnavailableError:
                print("busy", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "hold":
        hold(sys.argv[2])
    else:
        race(sys.argv[2], sys.argv[3])
