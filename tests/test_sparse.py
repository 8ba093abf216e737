"""SparseVector and the pure array functions of splade_qdrant.sparse (no model, no store)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from splade_qdrant.sparse import SparseVector, activate, logits_to_sparse, prune_rows, rows_to_sparse

# --------------------------------------------------------------------------- invariants


def test_from_dict_sorts_and_drops_zeros() -> None:
    v = SparseVector.from_dict({9: 0.5, 2: 1.25, 4: 0.0, 0: -3.0})
    assert v.indices.tolist() == [0, 2, 9]
    assert v.values.tolist() == [-3.0, 1.25, 0.5]
    assert v.indices.dtype == np.int32
    assert v.values.dtype == np.float32
    assert len(v) == 3


def test_from_arrays_any_order() -> None:
    v = SparseVector.from_arrays([7, 1, 3], [0.7, 0.1, 0.3])
    assert v.indices.tolist() == [1, 3, 7]
    np.testing.assert_array_equal(v.values, np.array([0.1, 0.3, 0.7], dtype=np.float32))


def test_from_arrays_duplicate_index_raises() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        SparseVector.from_arrays([3, 1, 3], [1.0, 2.0, 3.0])


def test_from_arrays_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="equal length"):
        SparseVector.from_arrays([1, 2], [1.0])


@pytest.mark.parametrize("index", [-1, 2**31])
def test_from_arrays_index_out_of_range_raises(index: int) -> None:
    with pytest.raises(ValueError, match="indices"):
        SparseVector.from_arrays([index], [1.0])


def test_constructor_checks_dtype() -> None:
    with pytest.raises(ValueError, match="int32"):
        SparseVector(np.array([1, 2], dtype=np.int64), np.array([1.0, 2.0], dtype=np.float32))
    with pytest.raises(ValueError, match="float32"):
        SparseVector(np.array([1, 2], dtype=np.int32), np.array([1.0, 2.0], dtype=np.float64))


@pytest.mark.parametrize(
    ("indices", "values"),
    [
        ([2, 1], [1.0, 1.0]),  # unsorted
        ([1, 1], [1.0, 1.0]),  # duplicate
        ([-1, 1], [1.0, 1.0]),  # negative
    ],
)
def test_constructor_rejects_bad_indices(indices: list[int], values: list[float]) -> None:
    with pytest.raises(ValueError, match="sorted and unique"):
        SparseVector(np.array(indices, dtype=np.int32), np.array(values, dtype=np.float32))


@pytest.mark.parametrize("bad", [0.0, math.nan, math.inf, -math.inf])
def test_constructor_rejects_zero_and_non_finite_values(bad: float) -> None:
    with pytest.raises(ValueError, match="finite and non-zero"):
        SparseVector(np.array([1, 5], dtype=np.int32), np.array([1.0, bad], dtype=np.float32))


def test_from_arrays_rejects_non_finite() -> None:
    with pytest.raises(ValueError):
        SparseVector.from_arrays([1], [math.nan])


def test_constructor_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="equal length"):
        SparseVector(np.array([1, 2], dtype=np.int32), np.array([1.0], dtype=np.float32))
    with pytest.raises(ValueError, match="1-D"):
        SparseVector(np.array([[1]], dtype=np.int32), np.array([[1.0]], dtype=np.float32))


def test_empty() -> None:
    e = SparseVector.empty()
    assert len(e) == 0
    assert e.as_dict() == {}
    assert e.to_dense(4).tolist() == [0.0, 0.0, 0.0, 0.0]
    assert e.dot(SparseVector.from_dict({1: 2.0})) == 0.0
    assert SparseVector.from_dict({}) == e
    assert SparseVector.from_dense(np.zeros(5)) == e


def test_as_dict_round_trip_python_types() -> None:
    weights = {3: 0.25, 10: 1.5, 11: 2.0}
    d = SparseVector.from_dict(weights).as_dict()
    assert d == weights
    assert all(type(k) is int and type(v) is float for k, v in d.items())


def test_dense_round_trip() -> None:
    row = np.array([0.0, 1.5, 0.0, -2.0, 0.0, 0.125], dtype=np.float32)
    v = SparseVector.from_dense(row)
    assert v.indices.tolist() == [1, 3, 5]
    np.testing.assert_array_equal(v.to_dense(6), row)
    assert v.to_dense(6).dtype == np.float32
    np.testing.assert_array_equal(v.to_dense(8)[6:], [0.0, 0.0])


def test_dot_matches_dense_float64() -> None:
    rng = np.random.default_rng(0)
    a = np.where(rng.random(200) < 0.2, rng.random(200), 0).astype(np.float32)
    b = np.where(rng.random(200) < 0.2, rng.random(200), 0).astype(np.float32)
    va, vb = SparseVector.from_dense(a), SparseVector.from_dense(b)
    expected = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
    assert va.dot(vb) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert vb.dot(va) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert isinstance(va.dot(vb), float)


def test_dot_disjoint_is_zero() -> None:
    assert SparseVector.from_dict({1: 1.0}).dot(SparseVector.from_dict({2: 1.0})) == 0.0


def test_equality_and_hash() -> None:
    a = SparseVector.from_dict({1: 0.5, 4: 2.0})
    b = SparseVector.from_arrays([4, 1], [2.0, 0.5])
    c = SparseVector.from_dict({1: 0.5, 4: 2.5})
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert a != {1: 0.5, 4: 2.0}
    assert len({a, b, c}) == 2


def test_immutable() -> None:
    v = SparseVector.from_dict({1: 1.0})
    with pytest.raises(AttributeError):
        v.indices = np.zeros(0, dtype=np.int32)  # type: ignore[misc]


# --------------------------------------------------------------------------- activate


def test_activate_is_log1p_relu_float32() -> None:
    x = np.array([[-5.0, -0.0, 0.0, 0.5, math.e - 1.0, 100.0]], dtype=np.float64)
    out = activate(x)
    assert out.dtype == np.float32
    assert out.shape == x.shape
    expected = np.log1p(np.maximum(x.astype(np.float32), np.float32(0)))
    np.testing.assert_array_equal(out, expected)
    assert out[0, 0] == 0.0 and out[0, 1] == 0.0
    assert out[0, 4] == pytest.approx(1.0, abs=1e-7)


def test_activate_of_max_equals_max_of_activation() -> None:
    """The identity the encoder relies on: activation is monotone, so it commutes with max."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, size=(7, 11, 50)).astype(np.float32)  # [texts, tokens, vocab]
    np.testing.assert_array_equal(activate(logits.max(axis=1)), activate(logits).max(axis=1))


# --------------------------------------------------------------------------- prune_rows


def test_prune_top_k_ties_keep_lower_index() -> None:
    w = np.array([[0.5, 0.75, 0.5, 0.75, 0.5, 0.125]], dtype=np.float32)
    np.testing.assert_array_equal(prune_rows(w, top_k=2), [[0.0, 0.75, 0.0, 0.75, 0.0, 0.0]])
    np.testing.assert_array_equal(prune_rows(w, top_k=3), [[0.5, 0.75, 0.0, 0.75, 0.0, 0.0]])
    np.testing.assert_array_equal(prune_rows(w, top_k=4), [[0.5, 0.75, 0.5, 0.75, 0.0, 0.0]])


def test_prune_top_k_per_row_and_larger_than_vocab() -> None:
    w = np.array([[3.0, 1.0, 2.0], [0.0, 0.0, 5.0]], dtype=np.float32)
    np.testing.assert_array_equal(prune_rows(w, top_k=1), [[3.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    np.testing.assert_array_equal(prune_rows(w, top_k=10), w)
    np.testing.assert_array_equal(prune_rows(w, top_k=0), np.zeros_like(w))


def test_prune_threshold_strictly_below() -> None:
    w = np.array([[0.125, 0.375, 0.5, 0.25]], dtype=np.float32)
    np.testing.assert_array_equal(prune_rows(w, threshold=0.375), [[0.0, 0.375, 0.5, 0.0]])


def test_prune_threshold_and_top_k_together() -> None:
    w = np.array([[0.125, 0.375, 0.5, 0.25, 0.75]], dtype=np.float32)
    np.testing.assert_array_equal(prune_rows(w, threshold=0.3, top_k=2), [[0.0, 0.0, 0.5, 0.0, 0.75]])


def test_prune_returns_new_array() -> None:
    w = np.array([[0.1, 0.9]], dtype=np.float32)
    before = w.copy()
    out = prune_rows(w, top_k=1, threshold=0.5)
    np.testing.assert_array_equal(w, before)
    assert out is not w


def test_prune_negative_top_k_raises() -> None:
    with pytest.raises(ValueError, match="top_k"):
        prune_rows(np.ones((1, 3), dtype=np.float32), top_k=-1)


# --------------------------------------------------------------------------- rows_to_sparse


def test_rows_to_sparse_rows_and_empty_rows() -> None:
    w = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 3.0]], dtype=np.float32)
    vecs = rows_to_sparse(w)
    assert [v.as_dict() for v in vecs] == [{1: 1.0}, {}, {0: 2.0, 2: 3.0}]
    assert all(v.indices.dtype == np.int32 and v.values.dtype == np.float32 for v in vecs)


def test_rows_to_sparse_zero_rows() -> None:
    assert rows_to_sparse(np.zeros((0, 5), dtype=np.float32)) == []


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_rows_to_sparse_rejects_non_2d(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="2-D"):
        rows_to_sparse(np.ones(shape, dtype=np.float32))


# --------------------------------------------------------------------------- properties

_finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
_sparse_element = st.one_of(st.just(0.0), st.just(0.0), _finite32)
_nonneg_element = st.one_of(
    st.just(0.0), st.floats(min_value=0.0, max_value=50.0, allow_nan=False, width=32), st.sampled_from([0.5, 1.0])
)


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.tuples(st.integers(0, 6), st.integers(1, 40)),
        elements=_sparse_element,
    )
)
def test_property_rows_to_sparse_round_trip(rows: np.ndarray) -> None:
    vecs = rows_to_sparse(rows)
    assert len(vecs) == rows.shape[0]
    for i, v in enumerate(vecs):
        np.testing.assert_array_equal(v.to_dense(rows.shape[1]), rows[i])
        assert np.all(np.diff(v.indices) > 0)
        assert np.all(v.values != 0)
        assert v == SparseVector.from_dense(rows[i])


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 30)), elements=_nonneg_element),
    st.integers(0, 35),
)
def test_property_prune_top_k_keeps_largest(rows: np.ndarray, k: int) -> None:
    pruned = prune_rows(rows, top_k=k)
    assert pruned.shape == rows.shape and pruned.dtype == np.float32
    for orig, out in zip(rows, pruned):
        nnz = int(np.count_nonzero(orig))
        kept = np.flatnonzero(out)
        assert kept.size == min(k, nnz)
        # kept entries are unchanged ...
        np.testing.assert_array_equal(out[kept], orig[kept])
        # ... and none of the dropped non-zero entries is larger than a kept one
        dropped = np.setdiff1d(np.flatnonzero(orig), kept)
        if kept.size and dropped.size:
            assert orig[dropped].max() <= orig[kept].min()
            # among equal weights the lower index wins
            boundary = orig[kept].min()
            tied_dropped = dropped[orig[dropped] == boundary]
            tied_kept = kept[orig[kept] == boundary]
            if tied_dropped.size:
                assert tied_kept.max() < tied_dropped.min()


# --------------------------------------------------------------------------- logits_to_sparse


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(0, 4), st.integers(1, 40)), elements=st.floats(-1e6, 1e6, width=32)))
def test_logits_to_sparse_equals_activate_then_rows_to_sparse(logits: np.ndarray) -> None:
    got = logits_to_sparse(logits)
    want = rows_to_sparse(activate(logits))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g == w


def test_logits_to_sparse_rejects_one_dimensional_input() -> None:
    with pytest.raises(ValueError, match="2-D"):
        logits_to_sparse(np.zeros(3, np.float32))


def test_top_k_by_partition_equals_a_stable_full_sort() -> None:
    """prune_rows' partition-based top-k keeps exactly what a stable argsort keeps (ties included)."""
    rng = np.random.default_rng(0)
    for _ in range(500):
        vocab, batch = int(rng.integers(1, 40)), int(rng.integers(1, 5))
        weights = rng.choice([0.0, 0.0, 0.5, 1.0, float(rng.random())], size=(batch, vocab)).astype(np.float32)
        k = int(rng.integers(0, vocab + 2))
        want = weights.copy()
        np.put_along_axis(want, np.argsort(-want, axis=1, kind="stable")[:, k:], 0, axis=1)
        np.testing.assert_array_equal(prune_rows(weights, top_k=k), want)
