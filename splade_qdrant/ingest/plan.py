"""Planning: which documents of a batch to encode, refresh or skip, from what is stored.

Both planners are pure — they take the payloads the batch wants and what the store holds
(read beforehand by :func:`read_stored` / :func:`read_stored_chunks`) and decide, so they are
testable without a store or a model.

Stored text (``store_text``) is kept when a rerun does not ask for it: it belongs to the same
content hash, so a document whose text is unchanged keeps it (skipped, or rewritten with it);
only a document whose text changed loses it, since the old text no longer describes it.

Example:
    >>> want = [{"doc_id": "a", "content_hash": "h1"}, {"doc_id": "b", "content_hash": "h2"}]
    >>> stored = [{"doc_id": "a", "content_hash": "h1", "text": "old"}, None]
    >>> plan = plan_documents(want, stored, insert_only=False, skip_unchanged=True, can_refresh=True, store_text=False)
    >>> plan.encode, plan.refresh, plan.skipped_unchanged
    ([1], [], 1)
    >>> chunks = plan_chunks(want, stored, [True, False], insert_only=False, skip_unchanged=True, store_text=False)
    >>> chunks.encode, chunks.skipped_unchanged
    ([1], 1)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..store.base import Store
from .points import json_normalised, point_id, same_payload

__all__ = ["ChunkPlan", "DocumentPlan", "plan_chunks", "plan_documents", "read_stored", "read_stored_chunks"]

Payload = Mapping[str, Any]


@dataclass
class DocumentPlan:
    """What to do with a batch of whole documents (indices into the batch).

    Attributes:
        encode: documents to encode and write.
        refresh: documents whose text is unchanged but payload changed: their stored vectors
            get the new payload without re-encoding.
        payloads: the payload to write for each document (stored text kept where it applies).
        skipped_unchanged, skipped_existing: documents left as stored.
    """

    encode: list[int] = field(default_factory=list)
    refresh: list[int] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    skipped_unchanged: int = 0
    skipped_existing: int = 0


@dataclass
class ChunkPlan:
    """What to do with a batch of chunked documents (indices into the batch).

    Attributes:
        encode: documents to (re-)encode, in batch order.
        with_text: for each of ``encode``, whether its windows carry their text.
        old_counts: chunks stored now per document (the stale ones beyond the new count go).
        skipped_unchanged, skipped_existing: documents left as stored.
    """

    encode: list[int] = field(default_factory=list)
    with_text: list[bool] = field(default_factory=list)
    old_counts: dict[int, int] = field(default_factory=dict)
    skipped_unchanged: int = 0
    skipped_existing: int = 0


def _keeps_text(old: Payload, wanted: Payload, store_text: bool) -> bool:
    """The stored text stays: not asked for now, but stored, and the text is unchanged."""
    return not store_text and "text" in old and old.get("content_hash") == wanted.get("content_hash")


def plan_documents(
    payloads: Sequence[Payload],
    stored: Sequence[Payload | None],
    *,
    insert_only: bool,
    skip_unchanged: bool,
    can_refresh: bool,
    store_text: bool,
) -> DocumentPlan:
    """Decide each document of a batch of whole documents.

    Args:
        payloads: the payload each document would be written with.
        stored: each document's stored payload (None: not stored, or not read).
        insert_only: never touch a stored document.
        skip_unchanged: skip a document stored with the same content hash and payload.
        can_refresh: stored vectors read back exactly, so a payload-only change reuses them.
        store_text: the payloads carry ``text`` because the caller asked for it.
    """
    plan = DocumentPlan()
    for i, (want, old) in enumerate(zip(payloads, stored)):
        final = dict(want)
        if old is not None and _keeps_text(old, want, store_text):
            final["text"] = old["text"]
        plan.payloads.append(final)
        if old is None:
            plan.encode.append(i)
        elif insert_only:
            plan.skipped_existing += 1
        elif not skip_unchanged or old.get("content_hash") != want.get("content_hash"):
            plan.encode.append(i)
        elif same_payload(old, json_normalised(final)):
            plan.skipped_unchanged += 1
        elif can_refresh:
            plan.refresh.append(i)
        else:
            plan.encode.append(i)
    return plan


def plan_chunks(
    payloads: Sequence[Payload],
    firsts: Sequence[Payload | None],
    lasts_present: Sequence[bool],
    *,
    insert_only: bool,
    skip_unchanged: bool,
    store_text: bool,
) -> ChunkPlan:
    """Decide each document of a batch for a chunked collection (one point per window).

    A document counts as stored when its chunk 0 carries the same content hash and payload
    (``chunk`` and ``text`` aside: those are per window) and its last chunk exists: chunks are
    written in order, so a crash mid-document is re-encoded on the next run.

    Args:
        payloads: each document's payload (without per-window fields).
        firsts: each document's stored chunk-0 payload (None: not stored).
        lasts_present: whether the last chunk named by that payload's ``chunk.count`` exists.
        insert_only, skip_unchanged, store_text: as for :func:`plan_documents`.
    """
    plan = ChunkPlan()
    for i, (want, old, last) in enumerate(zip(payloads, firsts, lasts_present)):
        if old is None:
            plan.encode.append(i)
            plan.with_text.append(store_text)
            continue
        if insert_only:
            plan.skipped_existing += 1
            continue
        plan.old_counts[i] = int((old.get("chunk") or {}).get("count", 1))
        old_doc = {k: v for k, v in old.items() if k not in ("chunk", "text")}
        wanted = json_normalised({k: v for k, v in want.items() if k != "text"})
        unchanged = (
            skip_unchanged
            and old.get("content_hash") == want.get("content_hash")
            and same_payload(old_doc, wanted)
            and (not store_text or "text" in old)
        )
        if unchanged and last:
            plan.skipped_unchanged += 1
        else:
            plan.encode.append(i)
            plan.with_text.append(store_text or _keeps_text(old, want, store_text))
    return plan


def read_stored(store: Store, collection: str, ids: Sequence[str]) -> list[Payload | None]:
    """The stored payload of each point id (None where absent)."""
    found = {p.id: p.payload for p in store.retrieve(collection, list(ids))}
    return [found.get(i) for i in ids]


def read_stored_chunks(store: Store, collection: str, doc_ids: Sequence[str]) -> tuple[list[Payload | None], list[bool]]:
    """Each document's stored chunk-0 payload, and whether its last chunk exists."""
    firsts = read_stored(store, collection, [point_id(d, 0) for d in doc_ids])
    lasts = {
        k: point_id(d, int((old.get("chunk") or {}).get("count", 1)) - 1)
        for k, (d, old) in enumerate(zip(doc_ids, firsts))
        if old is not None
    }
    present = {p.id for p in store.retrieve(collection, list(lasts.values()))} if lasts else set()
    return firsts, [k in lasts and lasts[k] in present for k in range(len(doc_ids))]
