"""splade_qdrant: learned sparse retrieval (SPLADE) on Qdrant.

Encode documents with a SPLADE document encoder, store them as sparse vectors in Qdrant
(the embedded Qdrant Edge engine by default, or any server through qdrant-client), and
search them with the query encoder — optionally fused with dense vectors.

The names below are imported lazily, so ``import splade_qdrant`` does not import torch.

Example:
    >>> import splade_qdrant
    >>> splade_qdrant.SparseVector.from_dict({5: 0.5}).as_dict()
    {5: 0.5}
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "SpladeQdrant": "splade_qdrant.collection",
    "AsyncSpladeQdrant": "splade_qdrant.aio",
    "SearchHit": "splade_qdrant.search",
    "Searcher": "splade_qdrant.search",
    "IngestReport": "splade_qdrant.ingest",
    "ingest": "splade_qdrant.ingest",
    "point_id": "splade_qdrant.ingest",
    "Document": "splade_qdrant.documents",
    "iter_documents": "splade_qdrant.documents",
    "SparseVector": "splade_qdrant.sparse",
    "SpladeEncoder": "splade_qdrant.encoder",
    "MaskedLM": "splade_qdrant.encoder",
    "EncoderPair": "splade_qdrant.pair",
    "open_store": "splade_qdrant.store",
    "Store": "splade_qdrant.store",
    "SpladeQdrantError": "splade_qdrant.errors",
    "ConfigError": "splade_qdrant.errors",
    "InputError": "splade_qdrant.errors",
    "ModelNotFoundError": "splade_qdrant.errors",
    "StoreError": "splade_qdrant.errors",
    "CollectionNotFoundError": "splade_qdrant.errors",
    "FingerprintMismatchError": "splade_qdrant.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:  # pragma: no cover
    from .aio import AsyncSpladeQdrant
    from .collection import SpladeQdrant
    from .documents import Document, iter_documents
    from .encoder import MaskedLM, SpladeEncoder
    from .errors import (
        CollectionNotFoundError,
        ConfigError,
        FingerprintMismatchError,
        InputError,
        ModelNotFoundError,
        SpladeQdrantError,
        StoreError,
    )
    from .ingest import IngestReport, ingest, point_id
    from .pair import EncoderPair
    from .search import SearchHit, Searcher
    from .sparse import SparseVector
    from .store import Store, open_store


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'splade_qdrant' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
