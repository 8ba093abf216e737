"""Defaults as named constants, environment variables, and model presets.

Precedence everywhere: explicit argument > environment variable > default. Environment
variables use one prefix, ``SPLADE_QDRANT_``, except Qdrant's own ``QDRANT_URL`` and
``QDRANT_API_KEY``.

Example:
    >>> resolve_preset("efficient-splade-VI-BT-large")
    ('naver/efficient-splade-VI-BT-large-doc', 'naver/efficient-splade-VI-BT-large-query')
    >>> resolve_preset("./my-model")
    ('./my-model', './my-model')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_DOC_MAX_LENGTH",
    "DEFAULT_EVAL_LIMIT",
    "DEFAULT_LIMIT",
    "DEFAULT_LONG_DOCS",
    "DEFAULT_MODEL",
    "DEFAULT_QUERY_MAX_LENGTH",
    "DEFAULT_SPARSE_VECTOR",
    "DEFAULT_STORE_DIR",
    "ENV_API_KEY",
    "ENV_MODEL",
    "ENV_STORE",
    "ENV_URL",
    "LONG_DOCS_MODES",
    "LONG_DOCS_TAIL_WEIGHT",
    "LongDocs",
    "PRESETS",
    "env_or",
    "resolve_preset",
    "resolve_store_dir",
]

#: Preset names → (document encoder, query encoder). One id on both sides = symmetric SPLADE.
PRESETS: dict[str, tuple[str, str]] = {
    "efficient-splade-VI-BT-large": (
        "naver/efficient-splade-VI-BT-large-doc",
        "naver/efficient-splade-VI-BT-large-query",
    ),
    "efficient-splade-V-large": (
        "naver/efficient-splade-V-large-doc",
        "naver/efficient-splade-V-large-query",
    ),
    "splade-v3": ("naver/splade-v3", "naver/splade-v3"),
    "splade-pp-ed": ("naver/splade-cocondenser-ensembledistil", "naver/splade-cocondenser-ensembledistil"),
    "splade-pp-sd": ("naver/splade-cocondenser-selfdistil", "naver/splade-cocondenser-selfdistil"),
}

DEFAULT_MODEL = "efficient-splade-VI-BT-large"
#: Token budgets include [CLS] and [SEP].
DEFAULT_DOC_MAX_LENGTH = 256
DEFAULT_QUERY_MAX_LENGTH = 64
#: What happens to documents over the max length: the first window plus the later windows'
#: terms down-weighted, max-pooled windows, one point per window, or the first window only.
LongDocs = Literal["first-plus", "window", "chunk", "truncate"]
LONG_DOCS_MODES: tuple[str, ...] = ("first-plus", "window", "chunk", "truncate")
#: Measured on real collections (README "Long documents"): first-plus beat truncation wherever
#: documents were long and tied it elsewhere; max-pooled windows lost to it everywhere.
DEFAULT_LONG_DOCS: LongDocs = "first-plus"
#: ``first-plus``: weight of the later windows' terms against the first window's (see pooling).
LONG_DOCS_TAIL_WEIGHT = 0.25
#: Texts per forward pass on CPU; GPUs use a larger token budget (see encoder).
DEFAULT_BATCH_SIZE = 32
#: Name of the sparse vector inside each point.
DEFAULT_SPARSE_VECTOR = "splade"
DEFAULT_STORE_DIR = "./splade_qdrant_data"
#: Hits per query when no limit is given.
DEFAULT_LIMIT = 10
#: Hits per query in an evaluation run (R@100 needs 100).
DEFAULT_EVAL_LIMIT = 100

ENV_MODEL = "SPLADE_QDRANT_MODEL"
ENV_STORE = "SPLADE_QDRANT_STORE"
ENV_URL = "QDRANT_URL"
ENV_API_KEY = "QDRANT_API_KEY"


def env_or(value: str | None, env_name: str, default: str | None = None) -> str | None:
    """Return ``value`` if given, else the environment variable ``env_name`` if set, else ``default``."""
    if value is not None:
        return value
    env = os.environ.get(env_name)
    return env if env else default


def resolve_store_dir(store: str | os.PathLike[str] | None) -> Path:
    """The embedded store directory: argument > ``SPLADE_QDRANT_STORE`` > ``./splade_qdrant_data``."""
    chosen = env_or(None if store is None else os.fspath(store), ENV_STORE, DEFAULT_STORE_DIR)
    return Path(chosen or DEFAULT_STORE_DIR).expanduser()


def resolve_preset(model: str) -> tuple[str, str]:
    """Expand a preset name to its (document, query) pair; any other string is used on both sides."""
    return PRESETS.get(model, (model, model))
