"""The value types the store interface speaks: points to write and read, queries, filters.

Plain dataclasses with numpy arrays and :class:`~splade_qdrant.sparse.SparseVector`; no
backend type appears here.

Example:
    >>> from splade_qdrant.sparse import SparseVector
    >>> q = FusedQuery([SparseQuery(SparseVector.from_dict({1: 1.0}), "splade")], "rrf", prefetch_limit=100, weights=(2, 1))
    >>> normal_query(q).weights
    [2.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np

from ..errors import ConfigError
from ..sparse import SparseVector

__all__ = [
    "DenseQuery",
    "Filter",
    "FilterTypes",
    "FusedQuery",
    "PointRecord",
    "Query",
    "Scalar",
    "SearchRequest",
    "SparseQuery",
    "StoredPoint",
    "native_filter",
    "normal_query",
    "simple_filter_items",
]

Scalar = Union[str, int, bool]
Filter = Union[Mapping[str, Union[Scalar, Sequence[Scalar]]], Any]


@dataclass(frozen=True, eq=False)
class PointRecord:
    """A point to write: a UUID string id, vectors and a JSON-able payload."""

    id: str
    sparse: SparseVector
    payload: Mapping[str, Any]
    dense: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class StoredPoint:
    """A point read back: id, score (0.0 for plain retrieval), payload, optional vectors."""

    id: str
    score: float
    payload: dict[str, Any]
    sparse: SparseVector | None = None
    dense: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class SparseQuery:
    """Nearest points by dot product with a sparse vector named ``using``."""

    vector: SparseVector
    using: str


@dataclass(frozen=True, eq=False)
class DenseQuery:
    """Nearest points by the dense vector named ``using``."""

    vector: np.ndarray
    using: str


@dataclass(frozen=True, eq=False)
class FusedQuery:
    """Several prefetches fused in the engine.

    ``k`` is the *engine's* RRF constant (both engines rank from 0, so the literature's
    ``1/(60 + rank)`` with rank from 1 is ``k = 61`` here); ``weights`` weight each prefetch.
    """

    prefetch: Sequence[SparseQuery | DenseQuery]
    method: Literal["rrf", "dbsf"]
    prefetch_limit: int
    k: int = 61
    weights: Sequence[float] | None = None


Query = Union[SparseQuery, DenseQuery, FusedQuery]


@dataclass(frozen=True, eq=False)
class SearchRequest:
    """One query as the backends receive it: the filter is already native, weights are floats."""

    query: Query
    limit: int
    offset: int
    score_threshold: float | None
    filter: Any
    with_vectors: bool


@dataclass(frozen=True)
class FilterTypes:
    """A backend's filter classes; both engines spell them alike (``Filter(must=[FieldCondition(…)])``)."""

    filter: type
    condition: Callable[..., Any]
    value: Callable[..., Any]
    any: Callable[..., Any]
    name: str


def simple_filter_items(filt: Mapping[str, Any]) -> list[tuple[str, Scalar | list[Scalar]]]:
    """Validate a simple filter and return ``(key, value_or_values)`` pairs.

    >>> simple_filter_items({"lang": "en", "year": [2020, 2021]})
    [('lang', 'en'), ('year', [2020, 2021])]
    """
    items: list[tuple[str, Scalar | list[Scalar]]] = []
    for key, value in filt.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"filter keys must be non-empty strings, got {key!r}")
        if isinstance(value, (list, tuple, set, frozenset)):
            values = list(value)
            if not values or not all(isinstance(v, (str, int)) and not isinstance(v, float) for v in values):
                raise ConfigError(f"filter {key!r}: any-of needs a non-empty list of strings or integers")
            items.append((key, values))
        elif isinstance(value, (str, int, bool)):
            items.append((key, value))
        else:
            raise ConfigError(f"filter {key!r}: value must be a string, integer, boolean or list, got {value!r}")
    return items


def normal_query(q: Query) -> Query:
    """The query with RRF weights as floats and k as an int (what both engines take)."""
    if isinstance(q, FusedQuery):
        weights = None if q.weights is None else [float(w) for w in q.weights]
        return FusedQuery(list(q.prefetch), q.method, int(q.prefetch_limit), int(q.k), weights)
    return q


def native_filter(filt: Filter | None, types: FilterTypes, backend: str) -> Any:
    """``filt`` as the backend's filter: a native one passes, a simple one is built with ``types``.

    >>> from qdrant_client import models
    >>> t = FilterTypes(models.Filter, models.FieldCondition, models.MatchValue, models.MatchAny, "Filter")
    >>> native_filter({"lang": "en"}, t, "test").must[0].match.value
    'en'
    """
    if filt is None or isinstance(filt, types.filter):
        return filt
    if not isinstance(filt, Mapping):
        raise ConfigError(f"{backend} stores take a dict filter or a {types.name}, got {type(filt).__name__}")
    must = [_match_condition(types, key, v) for key, v in simple_filter_items(filt)]
    return types.filter(must=must) if must else None


def _match_condition(types: Any, key: str, value: Any) -> Any:
    """One simple-filter entry as a native condition. An any-of list mixing strings, integers
    and booleans (one engine match type each) becomes a nested filter: any string or any integer
    or one of the booleans."""
    if not isinstance(value, list):
        return types.condition(key=key, match=types.value(value=value))
    strings = [v for v in value if isinstance(v, str)]
    ints = [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    bools = list(dict.fromkeys(v for v in value if isinstance(v, bool)))
    conditions = [types.condition(key=key, match=types.any(any=group)) for group in (strings, ints) if group]
    conditions += [types.condition(key=key, match=types.value(value=b)) for b in bools]
    return conditions[0] if len(conditions) == 1 else types.filter(should=conditions)
