"""Dense encoders for hybrid retrieval: a sentence-transformers model, or any callable.

A :class:`DenseEncoder` turns texts into a ``[n, dim]`` float32 array. Give it a
sentence-transformers model id or directory (needs the ``dense`` extra), or any callable
``texts -> 2-D array`` (then also ``dim`` and a ``name`` to record). Vectors computed
elsewhere can be supplied directly: documents carry them in a ``"dense_vector"`` field,
queries pass ``dense_vector=`` to search.

Example:
    >>> import numpy as np
    >>> enc = DenseEncoder(lambda texts: np.ones((len(texts), 3)), dim=3, name="ones")
    >>> enc.encode(["a", "b"]).shape, enc.settings()
    ((2, 3), {'model': 'ones', 'dim': 3, 'distance': 'cosine'})
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import ConfigError, InputError, MissingDependencyError, ModelNotFoundError
from .store.spec import Distance

__all__ = ["DenseEncoder", "DenseEncoderLike", "check_dense_vector"]

DEFAULT_DENSE_BATCH = 64


class DenseEncoderLike(Protocol):
    """What ingest and search need from a dense encoder."""

    name: str
    dim: int
    distance: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def settings(self) -> dict[str, Any]: ...


def check_dense_vector(vector: Any, dim: int, *, what: str = "dense vector") -> np.ndarray:
    """Validate a user-supplied dense vector: 1-D, length ``dim``, finite; returns float32.

    >>> check_dense_vector([0.1, float("nan")], 2)
    Traceback (most recent call last):
    ...
    splade_qdrant.errors.InputError: dense vector contains NaN or infinity
    """
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a list of numbers") from None
    if arr.ndim != 1 or arr.shape[0] != dim:
        raise InputError(f"{what} has shape {arr.shape}, expected ({dim},)")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{what} contains NaN or infinity")
    return arr


class DenseEncoder:
    """Texts → dense vectors.

    Args:
        model: sentence-transformers model id / directory, or a callable ``texts -> array``.
        dim: vector size (required for callables; read from the model otherwise).
        distance: ``"cosine"`` (default), ``"dot"`` or ``"euclid"``.
        name: what the fingerprint records (default: the model id / resolved directory).
        device: device for sentence-transformers models.
        batch_size: texts per forward pass.
    """

    def __init__(
        self,
        model: str | Callable[[Sequence[str]], Any],
        *,
        dim: int | None = None,
        distance: Distance = "cosine",
        name: str | None = None,
        device: str | None = None,
        batch_size: int = DEFAULT_DENSE_BATCH,
    ) -> None:
        if distance not in ("cosine", "dot", "euclid"):
            raise ConfigError(f"distance must be cosine, dot or euclid, got {distance!r}")
        self.distance: Distance = distance
        self.batch_size = batch_size
        if callable(model):
            if dim is None or name is None:
                raise ConfigError("a callable dense encoder needs dim= and name=")
            self._fn: Callable[[Sequence[str]], Any] = model
            self.dim, self.name = int(dim), name
            return
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependencyError("sentence-transformers", "dense", "a dense model by name") from None
        path = Path(model).expanduser()
        label = str(path.resolve()) if path.is_dir() else model
        from .models import quiet_transformers

        try:
            with quiet_transformers():
                st = SentenceTransformer(str(path) if path.is_dir() else model, device=device)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelNotFoundError(f"cannot load dense model {model!r}: {first}; pass a local sentence-transformers directory") from None
        get_dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        size = get_dim()
        if size is None:
            raise ConfigError(f"cannot tell the embedding size of {model!r}; pass dim=")
        self.dim, self.name = int(size), name or label
        normalise = distance == "cosine"
        self._fn = lambda texts: st.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=normalise, show_progress_bar=False
        )

    @classmethod
    def precomputed(cls, dim: int, *, distance: Distance = "cosine") -> DenseEncoder:
        """A collection whose dense vectors the caller supplies (``"dense_vector"`` fields)."""

        def refuse(texts: Sequence[str]) -> Any:
            raise InputError(
                "a document has no 'dense_vector' field and this collection's dense vectors are supplied by the caller"
            )

        return cls(refuse, dim=dim, distance=distance, name="precomputed")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``[len(texts), dim]`` float32."""
        if isinstance(texts, str):
            raise TypeError("encode expects a sequence of strings, not one string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(self._fn(list(texts)), dtype=np.float32)
        if out.shape != (len(texts), self.dim):
            raise InputError(f"dense encoder {self.name!r} returned shape {out.shape}, expected ({len(texts)}, {self.dim})")
        return out

    def settings(self) -> dict[str, Any]:
        """What the collection fingerprint records."""
        return {"model": self.name, "dim": self.dim, "distance": self.distance}
