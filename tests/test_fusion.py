"""The pure fusion functions of ``splade_qdrant.fusion``: hand-computed examples and properties.

Conventions checked (from the module docstring): ranks start at 1; RRF scores
``Σ_i 1 / (k + rank_i / w_i)`` (a weight divides the rank; weight 0 ignores a list); DBSF maps
each list through ``(s - (μ - 3σ)) / 6σ`` with the sample σ (a one-item or constant list gives
0.5) and sums; convex sums weighted min-max normalised scores (a constant list gives 1.0).
Results are best first, ties in first-seen order, and inputs are never modified.

The expected values are worked out by hand in the comments and written as exact fractions.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from splade_qdrant.fusion import DEFAULT_RRF_K, convex, dbsf, engine_rrf_k, rrf

REL = 1e-12

# The running example: a sparse and a dense list sharing "b"; "a", "c" only sparse, "d" only dense.
SPARSE = [("a", 9.0), ("b", 7.0), ("c", 5.0)]
DENSE = [("b", 0.8), ("d", 0.7)]


def assert_fused(got: Sequence[tuple[Any, float]], want: Sequence[tuple[Any, float]]) -> None:
    """Same ids in the same order, scores equal to ``REL``."""
    assert [i for i, _ in got] == [i for i, _ in want], got
    for (i, s), (_, w) in zip(got, want):
        assert math.isclose(s, w, rel_tol=REL, abs_tol=1e-15), f"{i}: {s} != {w}"


# --------------------------------------------------------------------------- RRF by hand


def test_rrf_k60_hand_computed() -> None:
    # a: sparse rank 1            -> 1/61           = 0.016393
    # b: sparse rank 2, dense 1   -> 1/62 + 1/61    = 0.032522
    # c: sparse rank 3            -> 1/63           = 0.015873
    # d: dense rank 2             -> 1/62           = 0.016129
    want = [("b", 1 / 62 + 1 / 61), ("a", 1 / 61), ("d", 1 / 62), ("c", 1 / 63)]
    assert_fused(rrf([SPARSE, DENSE], k=60), want)
    assert_fused(rrf([SPARSE, DENSE]), want)  # k = 60 is the default
    assert DEFAULT_RRF_K == 60


def test_rrf_weight_divides_the_rank() -> None:
    # weights (2, 1): sparse ranks are halved.
    # a: 1/(60 + 1/2)                  = 1/60.5 = 0.016529
    # b: 1/(60 + 2/2) + 1/(60 + 1/1)   = 2/61   = 0.032787
    # c: 1/(60 + 3/2)                  = 1/61.5 = 0.016260
    # d: 1/(60 + 2/1)                  = 1/62   = 0.016129   (now below c: the weight reorders them)
    want = [("b", 2 / 61), ("a", 1 / 60.5), ("c", 1 / 61.5), ("d", 1 / 62)]
    assert_fused(rrf([SPARSE, DENSE], k=60, weights=[2, 1]), want)
    # weights (1, 3): dense ranks divided by 3.
    # b: 1/62 + 1/(60 + 1/3);  d: 1/(60 + 2/3);  a: 1/61;  c: 1/63
    want = [("b", 1 / 62 + 1 / (60 + 1 / 3)), ("d", 1 / (60 + 2 / 3)), ("a", 1 / 61), ("c", 1 / 63)]
    assert_fused(rrf([SPARSE, DENSE], k=60, weights=[1, 3]), want)


def test_rrf_unit_weights_equal_no_weights() -> None:
    assert rrf([SPARSE, DENSE], k=10, weights=[1.0, 1.0]) == rrf([SPARSE, DENSE], k=10)


def test_rrf_weight_zero_ignores_a_list() -> None:
    # Only the sparse list counts; "d" (dense only) is absent.
    want = [("a", 1 / 61), ("b", 1 / 62), ("c", 1 / 63)]
    assert_fused(rrf([SPARSE, DENSE], k=60, weights=[1, 0]), want)


def test_rrf_small_k_and_docstring_example() -> None:
    assert rrf([[("x", 1.0)], [("x", 5.0)]], k=0) == [("x", 2.0)]
    # k = 2 (qdrant-client's default in rank-from-1 terms would be k = 1): a: 1/3, b: 1/4 + 1/3, ...
    assert_fused(rrf([SPARSE, DENSE], k=2), [("b", 1 / 4 + 1 / 3), ("a", 1 / 3), ("d", 1 / 4), ("c", 1 / 5)])


def test_rrf_ignores_input_scores() -> None:
    rescored_sparse = [(i, -float(n)) for n, (i, _) in enumerate(SPARSE)]
    rescored_dense = [(i, 1e9) for i, _ in DENSE]
    assert rrf([rescored_sparse, rescored_dense], k=60) == rrf([SPARSE, DENSE], k=60)


def test_rrf_ties_keep_first_seen_order() -> None:
    # "x" and "y" both score 1/61 exactly; whichever list comes first wins the tie.
    assert rrf([[("x", 1.0)], [("y", 1.0)]], k=60) == [("x", 1 / 61), ("y", 1 / 61)]
    assert rrf([[("y", 1.0)], [("x", 1.0)]], k=60) == [("y", 1 / 61), ("x", 1 / 61)]
    # Symmetric ranks tie exactly as well: p = 1/61 + 1/62 = q.
    fused = rrf([[("p", 3.0), ("q", 2.0)], [("q", 0.9), ("p", 0.8)]], k=60)
    assert [i for i, _ in fused] == ["p", "q"]
    assert fused[0][1] == fused[1][1]


def test_rrf_empty_inputs() -> None:
    assert rrf([]) == []
    assert rrf([[], []]) == []
    assert_fused(rrf([[], DENSE], k=60), [("b", 1 / 61), ("d", 1 / 62)])


@pytest.mark.parametrize("weights", [[1.0], [1.0, 1.0, 1.0], [1.0, -0.5], [float("nan"), 1.0], [1.0, float("inf")]])
def test_rrf_rejects_bad_weights(weights: list[float]) -> None:
    with pytest.raises(ValueError):
        rrf([SPARSE, DENSE], weights=weights)


def test_engine_rrf_k_is_one_more() -> None:
    # The engines rank from 0: 1/(k_engine + rank0) == 1/(k + rank1) needs k_engine = k + 1.
    assert engine_rrf_k(60) == 61
    assert engine_rrf_k(2) == 3
    assert engine_rrf_k(0) == 1


# --------------------------------------------------------------------------- DBSF by hand


def test_dbsf_hand_computed() -> None:
    # Normalised score = 0.5 + z / 6 with z the sample z-score (μ ± 3σ mapped to 0 and 1).
    # sparse 3, 2, 1: μ = 2, σ² = (1 + 0 + 1) / 2 = 1  ->  a = 4/6, b = 3/6, c = 2/6
    # dense 0.9, 0.4: μ = 0.65, σ² = (0.25² + 0.25²) / 1 = 0.125, z = ±0.25 / √0.125 = ±1/√2
    #                 ->  c = 0.5 + 1/(6√2), d = 0.5 - 1/(6√2)
    # fused: c = 2/6 + 0.5 + 1/(6√2) = 0.951184, a = 0.666667, b = 0.5, d = 0.382149
    sparse = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    dense = [("c", 0.9), ("d", 0.4)]
    r = 1 / (6 * math.sqrt(2))
    want = [("c", 2 / 6 + 0.5 + r), ("a", 4 / 6), ("b", 0.5), ("d", 0.5 - r)]
    assert_fused(dbsf([sparse, dense]), want)


def test_dbsf_docstring_example() -> None:
    # 2, 1: μ = 1.5, σ = √0.5, z = ±1/√2 -> a = 0.5 + r, b = 0.5 - r; the one-item list gives b 0.5 more.
    r = 1 / (6 * math.sqrt(2))
    assert_fused(dbsf([[("a", 2.0), ("b", 1.0)], [("b", 3.0)]]), [("b", 1.0 - r), ("a", 0.5 + r)])


def test_dbsf_one_item_list_gives_half() -> None:
    assert dbsf([[("a", 123.0)]]) == [("a", 0.5)]
    assert dbsf([[("a", -4.0)], [("a", 9.0)]]) == [("a", 1.0)]


@pytest.mark.parametrize("value", [0.1, 0.7, 1.0, 3.0, 17.25])
@pytest.mark.parametrize("n", [2, 3, 5])
def test_dbsf_constant_list_gives_half(value: float, n: int) -> None:
    # A constant list has σ = 0: every item normalises to exactly 0.5 (the documented rule),
    # whatever rounding the mean of n equal floats picks up.
    ranked = [(f"d{i}", value) for i in range(n)]
    assert dbsf([ranked]) == [(f"d{i}", 0.5) for i in range(n)]


def test_dbsf_ties_keep_first_seen_order() -> None:
    # Both lists 2, 1: x and y each get 0.5 + r; the first list's item comes first.
    fused = dbsf([[("x", 2.0), ("p", 1.0)], [("y", 2.0), ("q", 1.0)]])
    assert [i for i, _ in fused] == ["x", "y", "p", "q"]
    assert fused[0][1] == fused[1][1] and fused[2][1] == fused[3][1]


def test_dbsf_empty_inputs() -> None:
    assert dbsf([]) == []
    assert dbsf([[], []]) == []
    assert dbsf([[], [("z", 1.0)]]) == [("z", 0.5)]


# --------------------------------------------------------------------------- convex by hand


def test_convex_hand_computed() -> None:
    # min-max: sparse 10, 6, 2 -> a 1, b 0.5, c 0;  dense 0.8, 0.4 -> c 1, a 0
    # weights (0.7, 0.3): a = 0.7·1 + 0.3·0 = 0.7, b = 0.7·0.5 = 0.35, c = 0.7·0 + 0.3·1 = 0.3
    sparse = [("a", 10.0), ("b", 6.0), ("c", 2.0)]
    dense = [("c", 0.8), ("a", 0.4)]
    assert_fused(convex([sparse, dense], weights=[0.7, 0.3]), [("a", 0.7), ("b", 0.35), ("c", 0.3)])
    # No weights: a = 1, c = 1 (tie: a seen first), b = 0.5.
    assert_fused(convex([sparse, dense]), [("a", 1.0), ("c", 1.0), ("b", 0.5)])


def test_convex_constant_list_and_empty_inputs() -> None:
    assert convex([[("a", 0.1), ("b", 0.1), ("c", 0.1)]]) == [("a", 1.0), ("b", 1.0), ("c", 1.0)]
    assert convex([[("a", 5.0)]], weights=[0.25]) == [("a", 0.25)]
    assert convex([]) == []
    assert convex([[], [("a", 2.0)]]) == [("a", 1.0)]


def test_convex_rejects_bad_weights() -> None:
    with pytest.raises(ValueError):
        convex([SPARSE, DENSE], weights=[1.0])
    with pytest.raises(ValueError):
        convex([SPARSE, DENSE], weights=[1.0, -1.0])


# --------------------------------------------------------------------------- inputs untouched


FUSERS: dict[str, Callable[[Any], list[tuple[Any, float]]]] = {
    "rrf": lambda lists: rrf(lists, k=60),
    "rrf-weighted": lambda lists: rrf(lists, k=60, weights=[2.0, 0.5]),
    "dbsf": dbsf,
    "convex": lambda lists: convex(lists, weights=[0.6, 0.4]),
}


@pytest.mark.parametrize("name", sorted(FUSERS))
def test_inputs_are_never_modified(name: str) -> None:
    # Mutable rows ([id, score] lists) would reveal a score overwritten in place (the
    # qdrant-client weak spot STYLE.md names); the outer lists would reveal sorting in place.
    lists = [[["a", 9.0], ["b", 7.0], ["c", 5.0]], [["c", 0.3], ["d", 0.9], ["b", 0.1]]]
    before = copy.deepcopy(lists)
    first = FUSERS[name](lists)
    assert lists == before
    assert FUSERS[name](lists) == first  # and calling again gives the same answer
    tuples = [tuple(map(tuple, ranked)) for ranked in before]
    frozen = copy.deepcopy(tuples)
    assert FUSERS[name](tuples) == first
    assert tuples == frozen


# --------------------------------------------------------------------------- properties

IDS = list("abcdefghij")
#: Scores on a 0.01 grid: realistic similarity values without catastrophic-cancellation cases.
SCORE = st.integers(-10_000, 10_000).map(lambda n: n / 100)


@st.composite
def ranked_list(draw: st.DrawFn) -> list[tuple[str, float]]:
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=len(IDS)))
    scores = sorted(draw(st.lists(SCORE, min_size=len(ids), max_size=len(ids))), reverse=True)
    return list(zip(ids, scores))


LISTS = st.lists(ranked_list(), max_size=4)


def first_seen(lists: Sequence[Sequence[tuple[str, float]]]) -> dict[str, int]:
    order: dict[str, int] = {}
    for ranked in lists:
        for item, _ in ranked:
            order.setdefault(item, len(order))
    return order


def assert_best_first_ties_first_seen(fused: Sequence[tuple[str, float]], seen: dict[str, int]) -> None:
    ids = [i for i, _ in fused]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for (i, s), (j, t) in zip(fused, fused[1:]):
        assert s >= t, f"not sorted: {i} {s} before {j} {t}"
        if s == t:
            assert seen[i] < seen[j], f"tie {i}/{j} not in first-seen order"


@settings(max_examples=300, deadline=None)
@given(
    lists=LISTS,
    k=st.one_of(st.integers(0, 100), st.floats(0.5, 100.0)),
    weights=st.none() | st.lists(st.floats(0.1, 10.0), min_size=4, max_size=4),
)
def test_property_rrf(lists: list[list[tuple[str, float]]], k: float, weights: list[float] | None) -> None:
    ws = None if weights is None else weights[: len(lists)]
    before = copy.deepcopy(lists)
    fused = rrf(lists, k=k, weights=ws)
    assert lists == before
    # contains exactly the union of the ids
    assert {i for i, _ in fused} == {i for ranked in lists for i, _ in ranked}
    # each score is the formula, written out independently
    unit = ws or [1.0] * len(lists)
    for item, score in fused:
        want = math.fsum(
            1.0 / (k + rank / w)
            for ranked, w in zip(lists, unit)
            for rank, (other, _) in enumerate(ranked, start=1)
            if other == item
        )
        assert math.isclose(score, want, rel_tol=1e-12), (item, score, want)
    assert_best_first_ties_first_seen(fused, first_seen(lists))
    # only ranks matter
    assert rrf([[(i, 0.0) for i, _ in ranked] for ranked in lists], k=k, weights=ws) == fused


def reference_dbsf_normalise(scores: Sequence[float]) -> list[float]:
    """Written independently: statistics' exact sample σ; one item or σ = 0 -> 0.5."""
    if len(scores) == 1 or len(set(scores)) == 1:
        return [0.5] * len(scores)
    mu, sigma = statistics.fmean(scores), statistics.stdev(scores)
    return [(s - (mu - 3 * sigma)) / (6 * sigma) for s in scores]


@settings(max_examples=300, deadline=None)
@given(lists=LISTS)
@example(lists=[[("a", 0.1), ("b", 0.1), ("c", 0.1)], [("c", 2.0), ("d", 1.0)]])  # a constant list, always tried
def test_property_dbsf(lists: list[list[tuple[str, float]]]) -> None:
    before = copy.deepcopy(lists)
    fused = dbsf(lists)
    assert lists == before
    assert {i for i, _ in fused} == {i for ranked in lists for i, _ in ranked}
    want: dict[str, float] = {}
    for ranked in lists:
        if ranked:
            for (item, _), value in zip(ranked, reference_dbsf_normalise([s for _, s in ranked])):
                want[item] = want.get(item, 0.0) + value
    for item, score in fused:
        assert math.isclose(score, want[item], rel_tol=1e-9, abs_tol=1e-9), (item, score, want[item])
    assert_best_first_ties_first_seen(fused, first_seen(lists))


@settings(max_examples=300, deadline=None)
@given(lists=LISTS, weights=st.lists(st.floats(0.0, 5.0), min_size=4, max_size=4))
def test_property_convex(lists: list[list[tuple[str, float]]], weights: list[float]) -> None:
    ws = weights[: len(lists)]
    before = copy.deepcopy(lists)
    fused = convex(lists, weights=ws)
    assert lists == before
    assert {i for i, _ in fused} == {i for ranked in lists for i, _ in ranked}
    for item, score in fused:
        assert -1e-12 <= score <= math.fsum(ws) + 1e-12
    assert_best_first_ties_first_seen(fused, first_seen(lists))
