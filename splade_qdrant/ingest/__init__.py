"""Ingestion: documents → SPLADE (and optional dense) vectors → points in a Qdrant collection.

A pipeline read top to bottom in :mod:`.pipeline`: read → validate → plan → encode → write.

* :mod:`.points` — point ids, content hashes, payloads (what a stored point looks like);
* :mod:`.checks` — options and the target collection, checked before anything is written;
  a new collection is created with its first encoded batch;
* :mod:`.plan` — pure planners: which documents to encode, refresh or skip;
* :mod:`.encode` — encoding steps that return the points and what they counted;
* :mod:`.writer` — the writer thread, and ``delete_missing``;
* :mod:`.progress` — a bar on a terminal, a line every N seconds elsewhere;
* :mod:`.report` — :class:`IngestReport`.

Rerunning an ingest is idempotent: a document already stored with the same hash and the
same payload is skipped without re-encoding (``skipped_unchanged``); one whose payload alone
changed gets the new payload on its stored vectors without re-encoding (``payload_updated``;
collections with float32 sparse weights and no dense vectors, otherwise it is re-encoded);
one whose text changed is re-encoded and replaced. So an interrupted ingest (crash, kill,
bad line) resumes by rerunning the same command: every acknowledged write survived (Qdrant
Edge replays its write-ahead log) and only what is missing is encoded. ``insert_only``
never touches a stored point; ``delete_missing`` makes the collection mirror its input.

Public names, stable for other code (the Ray ingest, integrations): :func:`ingest`,
:class:`IngestReport`, :func:`point_id`, :data:`ID_NAMESPACE`, :func:`content_hash`,
:func:`document_hash`, :func:`make_payload`, :func:`same_payload`, :func:`json_normalised`,
:func:`plan_documents`, :func:`plan_chunks`, :func:`encode_documents`, :func:`encode_chunks`,
:func:`delete_missing`, :class:`Writer`, :data:`DEFAULT_CHUNK_SIZE`, :data:`DEFAULT_UPSERT_BATCH`.

Example:
    >>> point_id("doc-1")
    '65d10a98-cbda-5820-b0ff-84293cb9ea0b'
"""

from __future__ import annotations

from .encode import Encoded, encode_chunks, encode_documents
from .pipeline import DEFAULT_CHUNK_SIZE, DEFAULT_UPSERT_BATCH, ingest
from .plan import ChunkPlan, DocumentPlan, plan_chunks, plan_documents
from .points import (
    ID_NAMESPACE,
    content_hash,
    document_hash,
    json_normalised,
    make_payload,
    point_id,
    same_payload,
)
from .report import IngestReport
from .writer import Writer, delete_missing

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_UPSERT_BATCH",
    "ID_NAMESPACE",
    "ChunkPlan",
    "DocumentPlan",
    "Encoded",
    "IngestReport",
    "Writer",
    "content_hash",
    "delete_missing",
    "document_hash",
    "encode_chunks",
    "encode_documents",
    "ingest",
    "json_normalised",
    "make_payload",
    "plan_chunks",
    "plan_documents",
    "point_id",
    "same_payload",
]
