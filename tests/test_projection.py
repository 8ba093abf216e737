"""The max-pooled vocabulary projection (``splade_qdrant._projection``): every path — exact
blocked product, certified pruning with a fitted basis, the basis fitted over many small
calls (queries), small hidden sizes, non-finite inputs, the torch path — against a plain
``max_t(hidden @ weight.T) + bias`` reference, after SPLADE's activation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from splade_qdrant._int8_bound import Int8Bound, int8_is_fast, weight_levels
from splade_qdrant._projection import Projection, max_pooled_logits

TOL = 1e-5


def model_like(vocab: int, hidden: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights whose logits are mostly negative, as in a trained MLM head (~2-5 % positive)."""
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(vocab, hidden, generator=g) / hidden**0.5
    bias = -3.0 + 0.5 * torch.randn(vocab, generator=g)
    return weight, bias


def hidden_states(rows: int, hidden: int, seed: int) -> torch.Tensor:
    """Anisotropic hidden states: a shared offset, a few strong directions, small noise."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(hidden, generator=g)
    axes = torch.randn(8, hidden, generator=g)
    return 0.4 * (base + torch.randn(rows, 8, generator=g) @ axes * 0.6 + 0.3 * torch.randn(rows, hidden, generator=g))


def reference(hidden: torch.Tensor, lengths: list[int], weight: torch.Tensor, bias: torch.Tensor) -> np.ndarray:
    logits = hidden.double() @ weight.double().T + bias.double()
    out, start = [], 0
    for n in lengths:
        out.append(logits[start : start + n].amax(dim=0))
        start += n
    return torch.log1p(torch.relu(torch.stack(out))).numpy()


def activated(x: torch.Tensor) -> np.ndarray:
    return torch.log1p(torch.relu(x.double())).numpy()


def split(total: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    lengths = []
    while sum(lengths) < total:
        lengths.append(int(min(rng.integers(1, 70), total - sum(lengths))))
    return lengths


BOUNDS = ["pca", "int8"]


@pytest.mark.parametrize("bound", BOUNDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pruned_path_equals_reference(seed: int, bound: str) -> None:
    weight, bias = model_like(5000, 96, seed)
    proj = Projection(weight, bias, bound=bound)  # type: ignore[arg-type]
    hidden = hidden_states(600, 96, seed)
    lengths = split(600, seed)
    got = proj(hidden, lengths)
    assert proj.fitted  # 600 rows >= 2 H: the certified path ran
    assert proj.bound == bound or not int8_is_fast()  # int8 did not fall back to pca here
    want = reference(hidden, lengths, weight, bias)
    assert 0.005 < (want > 0).mean() < 0.2  # a realistic share of positive terms
    np.testing.assert_allclose(activated(got), want, atol=TOL, rtol=0)
    # a second batch through the fitted basis, from another distribution: still exact
    other = hidden_states(300, 96, seed + 10) * 1.5
    lengths = split(300, seed + 1)
    np.testing.assert_allclose(activated(proj(other, lengths)), reference(other, lengths, weight, bias), atol=TOL, rtol=0)


@pytest.mark.parametrize("bound", BOUNDS)
def test_small_calls_fit_the_basis_once_enough_rows_are_seen(bound: str) -> None:
    weight, bias = model_like(4000, 64, 5)
    proj = Projection(weight, bias, bound=bound)  # type: ignore[arg-type]
    for q in range(12):  # query-sized calls: 19 tokens each
        hidden = hidden_states(19, 64, 100 + q)
        np.testing.assert_allclose(activated(proj(hidden, [19])), reference(hidden, [19], weight, bias), atol=TOL, rtol=0)
    assert proj.fitted  # 12 x 19 = 228 >= 2 x 64 rows
    hidden = hidden_states(19, 64, 999)
    np.testing.assert_allclose(activated(proj(hidden, [19])), reference(hidden, [19], weight, bias), atol=TOL, rtol=0)


def test_dense_path_for_small_hidden_sizes_and_returns_every_entry() -> None:
    weight, bias = model_like(3000, 16, 3)
    proj = Projection(weight, bias)
    hidden = hidden_states(400, 16, 3)
    lengths = split(400, 3)
    got = proj(hidden, lengths)
    assert not proj.fitted  # H < 64: no pruning
    raw = hidden.double() @ weight.double().T + bias.double()
    starts = np.cumsum([0, *lengths])
    want = torch.stack([raw[a:b].amax(dim=0) for a, b in zip(starts[:-1], starts[1:])])
    np.testing.assert_allclose(got.double().numpy(), want.numpy(), atol=TOL, rtol=0)  # negative entries too


@pytest.mark.parametrize("bound", BOUNDS)
def test_non_finite_hidden_states_take_the_exact_path(bound: str) -> None:
    weight, bias = model_like(2000, 64, 4)
    proj = Projection(weight, bias, bound=bound)  # type: ignore[arg-type]
    proj(hidden_states(300, 64, 4), [300])  # fits the basis
    hidden = hidden_states(10, 64, 5)
    hidden[3, 7] = float("inf")
    got = proj(hidden, [5, 5])
    raw = hidden.double() @ weight.double().T + bias.double()
    want = torch.stack([raw[:5].amax(dim=0), raw[5:].amax(dim=0)])
    assert torch.equal(torch.isinf(got[0]), torch.isinf(want[0]))
    np.testing.assert_allclose(got[1].double().numpy(), want[1].numpy(), atol=TOL, rtol=0)


@pytest.mark.parametrize("bound", BOUNDS)
def test_logits_crowded_around_zero_stay_exact(bound: str) -> None:
    """The worst case for a certified bound: thousands of logits within 1e-3 of zero, some just
    above it. Every positive one must come back exact and no negative one may turn positive."""
    weight, bias = model_like(3000, 128, 8)
    hidden = hidden_states(400, 128, 8)
    raw = hidden.double() @ weight.double().T
    # choose each bias so that the term's max logit over the first document lands in [-1e-3, 1e-3]
    first = raw[:40].amax(dim=0)
    jitter = torch.linspace(-1e-3, 1e-3, weight.shape[0], dtype=torch.float64)
    bias = (-first + jitter).float()
    proj = Projection(weight, bias, bound=bound)  # type: ignore[arg-type]
    proj.fit_basis(hidden)
    got = proj(hidden, [40, 360]).double().numpy()
    want = (raw + bias.double()).numpy()
    want = np.stack([want[:40].max(axis=0), want[40:].max(axis=0)])
    positive = want > 0
    assert positive[0].sum() > 1000  # half the first document's terms sit just above zero
    np.testing.assert_allclose(got[positive], want[positive], atol=TOL, rtol=0)
    assert (got[~positive] <= 0).all()


@pytest.mark.parametrize("bound", BOUNDS)
def test_outlier_dimensions_stay_exact(bound: str) -> None:
    """Hidden states with a few huge dimensions (as BERT's have): one int8 scale per row group
    then quantises the other dimensions coarsely; the measured error terms must still hold."""
    weight, bias = model_like(4000, 128, 9)
    hidden = hidden_states(500, 128, 9)
    hidden[:, [3, 77]] *= 60.0
    hidden[::7, 3] *= -1.0
    proj = Projection(weight, bias, bound=bound)  # type: ignore[arg-type]
    proj.fit_basis(hidden[:300])
    lengths = split(500, 9)
    np.testing.assert_allclose(activated(proj(hidden, lengths)), reference(hidden, lengths, weight, bias), atol=TOL, rtol=0)
    few = hidden[:19] * 1.3  # a query-sized call takes the whole-vocabulary product
    np.testing.assert_allclose(activated(proj(few, [19])), reference(few, [19], weight, bias), atol=TOL, rtol=0)


@pytest.mark.parametrize("levels", [63, None])
def test_int8_candidates_cover_every_positive_entry(levels: int | None) -> None:
    """7-bit weights (CPUs without int8 dot-product units) and this CPU's default: the bytes
    of oneDNN's kernel leave every positive entry among the candidates."""
    weight, bias = model_like(5000, 96, 4)
    hidden = hidden_states(400, 96, 4)
    bound = Int8Bound.fit(weight, bias, hidden[:200], levels=levels)
    if bound is None:
        assert not int8_is_fast(), "the int8 bound should fit on this CPU"
        pytest.skip("no oneDNN int8 GEMM here")
    lengths = split(400, 4)
    offsets = np.r_[0, np.cumsum(lengths)]
    cands = bound.candidates(hidden, offsets)
    assert cands is not None
    want = reference(hidden, lengths, weight, bias)
    for doc, cand in enumerate(cands):
        assert set(np.flatnonzero(want[doc] > 0)) <= set(cand.tolist())
    assert np.mean([len(c) for c in cands]) < 0.2 * weight.shape[0]  # and it certifies most entries


def test_int8_weights_never_exceed_what_this_cpu_sums_exactly() -> None:
    weight, bias = model_like(100, 64, 0)
    with pytest.raises(ValueError, match="levels"):
        Int8Bound.fit(weight, bias, hidden_states(10, 64, 0), levels=weight_levels() + 1)


def test_bound_choice_follows_the_hardware() -> None:
    weight, bias = model_like(100, 64, 0)
    assert Projection(weight, bias).bound == ("int8" if int8_is_fast() else "pca")


def test_other_dtypes_are_refused_with_the_reason() -> None:
    """The projection is the CPU float32 path; accelerators use MaskedLM's padded loop."""
    weight, bias = model_like(1000, 32, 6)
    hidden = hidden_states(50, 32, 6)
    with pytest.raises(ValueError, match="CPU float32 path"):
        max_pooled_logits(hidden.double(), [20, 30], weight.double(), bias.double())


def test_bad_lengths_raise() -> None:
    weight, bias = model_like(100, 8, 0)
    with pytest.raises(ValueError, match="at least one token"):
        max_pooled_logits(torch.zeros(3, 8), [3, 0], weight, bias)
    with pytest.raises(ValueError, match="sum to"):
        max_pooled_logits(torch.zeros(3, 8), [2], weight, bias)
