"""Tests for synergy_ppl.acquisition on hand-made samples with known answers."""

import math

import pytest
import torch

from synergy_ppl.acquisition import (
    SCORES,
    STRATEGIES,
    AcquisitionSettings,
    QExpectedImprovement,
    QUpperConfidenceBound,
    ThompsonBatch,
    expected_improvement,
    greedy,
    make_strategy,
    probability_of_improvement,
    random_scores,
    thompson,
    top_q,
    ucb,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def twins() -> torch.Tensor:
    """Candidates 0 and 1 are perfectly correlated near-copies with the highest values,
    candidate 2 is independent of them and slightly lower, candidate 3 is low and certain.

    Draw-wise deviations z (for 0 and 1) and w (for 2) have the same spread but are never
    large together, in sign or in absolute value.
    """
    z = torch.tensor([2.0, 0.0, -2.0, 0.0])
    w = torch.tensor([0.0, 2.0, 0.0, -2.0])
    return torch.stack([1.0 + z, 0.99 + z, 0.9 + w, torch.full((4,), -1.0)], dim=1)


@pytest.fixture
def noisy() -> torch.Tensor:
    return torch.randn(64, 30, generator=gen(0))


# --- scores -------------------------------------------------------------------------------------


def test_greedy_picks_highest_mean():
    samples = torch.tensor([[0.0, 1.0, 5.0], [2.0, 1.0, -1.0]])
    assert torch.allclose(greedy(samples), torch.tensor([1.0, 1.0, 2.0]))
    assert top_q(greedy(samples), 1).tolist() == [2]


def test_ucb_prefers_uncertain_candidate_at_equal_mean():
    samples = torch.tensor([[1.0, 0.0], [1.0, 2.0]])  # both mean 1, candidate 1 uncertain
    scores = ucb(samples, kappa=1.0)
    assert scores[1] > scores[0]
    assert torch.allclose(scores, torch.tensor([1.0, 1.0 + math.sqrt(2.0)]))
    assert torch.allclose(ucb(samples, kappa=0.0), greedy(samples))


def test_ucb_needs_two_draws():
    with pytest.raises(ValueError, match="at least 2 draws"):
        ucb(torch.zeros(1, 3))


def test_ei_zero_where_no_draw_beats_incumbent():
    samples = torch.tensor([[0.5, 1.5, 3.0], [0.9, 0.5, 1.0]])
    ei = expected_improvement(samples, best_f=1.0)
    assert ei[0] == 0.0
    assert ei[1] > 0 and ei[2] > 0
    assert torch.allclose(ei, torch.tensor([0.0, 0.25, 1.0]))


def test_incumbent_must_be_one_finite_number():
    samples = torch.tensor([[2.0, 1.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="one finite number"):
        expected_improvement(samples, torch.zeros(2))
    with pytest.raises(ValueError, match="one finite number"):
        expected_improvement(samples, math.nan)


def test_pi_is_exceedance_fraction(noisy):
    pi = probability_of_improvement(noisy, best_f=0.5)
    assert ((pi >= 0) & (pi <= 1)).all()
    assert torch.allclose(pi, (noisy > 0.5).float().mean(0))


def test_thompson_is_argmax_of_a_draw_and_reproducible(noisy):
    scores = thompson(noisy, gen(7))
    row = [r for r in range(noisy.shape[0]) if torch.equal(noisy[r], scores)]
    assert len(row) == 1
    assert top_q(scores, 1).item() == noisy[row[0]].argmax().item()
    assert torch.equal(thompson(noisy, gen(7)), scores)
    picks = {top_q(thompson(noisy, gen(s)), 1).item() for s in range(20)}
    assert len(picks) > 1


def test_random_scores_reproducible():
    a = random_scores(10, gen(3))
    assert a.shape == (10,)
    assert torch.equal(a, random_scores(10, gen(3)))
    assert not torch.equal(a, random_scores(10, gen(4)))


def test_score_registry_uniform_convention(noisy):
    assert list(SCORES) == ["greedy", "ucb", "ei", "pi", "thompson", "random"]
    settings = AcquisitionSettings(kappa=2.0, best_f=0.0)
    for bind in SCORES.values():
        scores = bind(settings)(noisy, gen(0))
        assert scores.shape == (noisy.shape[1],) and scores.dtype == noisy.dtype
    assert torch.equal(SCORES["ucb"](settings)(noisy, None), ucb(noisy, 2.0))
    assert torch.equal(SCORES["thompson"](settings)(noisy, gen(7)), thompson(noisy, gen(7)))


@pytest.mark.parametrize("name", ["ei", "pi", "q-ei"])
def test_strategies_that_need_the_incumbent_say_so(name):
    with pytest.raises(ValueError, match=f"'{name}' needs best_f"):
        make_strategy(name)


def test_unknown_strategy_lists_valid_names():
    valid = "greedy, ucb, ei, pi, thompson, random, q-ei, q-ucb, thompson-batch"
    assert ", ".join(STRATEGIES) == valid
    with pytest.raises(ValueError, match=f"unknown acquisition 'foo'; valid: {valid}"):
        make_strategy("foo")


# --- top-q --------------------------------------------------------------------------------------


def test_top_q_respects_exclude_and_uniqueness():
    scores = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    exclude = torch.tensor([True, False, True, False, False])
    assert top_q(scores, 2, exclude).tolist() == [1, 3]
    assert top_q(scores, 10, exclude).tolist() == [1, 3, 4]
    assert top_q(scores, 3, torch.ones(5, dtype=torch.bool)).tolist() == []


def test_top_q_rejects_bad_q_and_mask():
    scores = torch.zeros(3)
    with pytest.raises(ValueError, match="q must be an integer >= 1"):
        top_q(scores, 0)
    with pytest.raises(ValueError, match=r"shape \(3,\).*shape \(2,\)"):
        top_q(scores, 1, torch.zeros(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="NaN"):
        top_q(torch.tensor([0.0, math.nan]), 1)


def test_top_q_breaks_ties_randomly_with_a_generator_else_by_index():
    scores = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])
    picks = {top_q(scores, 1, generator=gen(s)).item() for s in range(20)}
    assert len(picks) > 1 and 4 not in picks
    assert torch.equal(top_q(scores, 3, generator=gen(5)), top_q(scores, 3, generator=gen(5)))
    assert top_q(scores, 3, torch.tensor([True, False, False, False, False])).tolist() == [1, 2, 3]


# --- batch-aware selection ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["greedy", "ucb", "ei"])
def test_plain_top_2_picks_the_twins(twins, name):
    batch = make_strategy(name, best_f=1.0).select(twins, 2)
    assert set(batch.tolist()) == {0, 1}


def test_q_ei_diversifies(twins):
    assert QExpectedImprovement(best_f=1.0).select(twins, 2).tolist() == [0, 2]
    assert make_strategy("q-ei", best_f=1.0).select(twins, 2).tolist() == [0, 2]


def test_q_ucb_diversifies(twins):
    assert QUpperConfidenceBound(kappa=1.0).select(twins, 2).tolist() == [0, 2]
    assert make_strategy("q-ucb", kappa=1.0).select(twins, 2).tolist() == [0, 2]


def test_q_ei_first_pick_is_ei_argmax(noisy):
    first = QExpectedImprovement(best_f=0.5).select(noisy, 1).item()
    assert first == expected_improvement(noisy, 0.5).argmax().item()


def test_marginal_is_the_per_candidate_score(noisy):
    expected = {
        "ucb": ucb(noisy, 2.0),
        "q-ei": expected_improvement(noisy, 0.5),
        "q-ucb": ucb(noisy, 2.0),
        "thompson-batch": greedy(noisy),
    }
    for name, scores in expected.items():
        strategy = make_strategy(name, kappa=2.0, best_f=0.5)
        assert torch.equal(strategy.marginal(noisy, gen(0)), scores)


def test_q_ucb_single_point_matches_ucb_for_gaussian_draws():
    samples = torch.randn(20000, 2, generator=gen(1)) * torch.tensor([1.0, 2.0])
    utility = samples.mean(0) + math.sqrt(math.pi / 2) * (samples - samples.mean(0)).abs()
    assert torch.allclose(utility.mean(0), ucb(samples, 1.0), atol=0.05)


def test_thompson_batch_distinct_and_reproducible(noisy):
    exclude = torch.zeros(noisy.shape[1], dtype=torch.bool)
    exclude[:10] = True
    batch = ThompsonBatch().select(noisy, 8, exclude, gen(2))
    assert len(set(batch.tolist())) == 8
    assert (batch >= 10).all()
    assert torch.equal(batch, ThompsonBatch().select(noisy, 8, exclude, gen(2)))


def test_thompson_batch_first_slot_is_argmax_of_a_draw(twins):
    first = ThompsonBatch().select(twins, 1, generator=gen(0)).item()
    assert first in set(twins.argmax(dim=1).tolist())


def test_thompson_batch_needs_enough_draws():
    with pytest.raises(ValueError, match="q=3 but S=2"):
        ThompsonBatch().select(torch.randn(2, 5, generator=gen(0)), 3)


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("q", [1, 5, 40])
def test_strategy_invariants(noisy, name, q):
    n = noisy.shape[1]
    exclude = torch.arange(n) % 3 == 0
    batch = make_strategy(name, best_f=0.5).select(noisy, q, exclude, gen(0))
    assert batch.dtype == torch.long
    assert len(batch) == min(q, int((~exclude).sum()))
    assert len(set(batch.tolist())) == len(batch)
    assert not exclude[batch].any()


def test_strategy_errors(noisy):
    with pytest.raises(ValueError, match=r"shape \(30,\).*shape \(29,\)"):
        make_strategy("q-ucb").select(noisy, 2, torch.zeros(29, dtype=torch.bool))
    with pytest.raises(ValueError, match="q must be an integer >= 1"):
        make_strategy("q-ei", best_f=0.0).select(noisy, 0)
    for name in STRATEGIES:
        with pytest.raises(ValueError, match=r"shape \(S, N\); got \(30,\)"):
            make_strategy(name, best_f=0.0).select(noisy[0], 2)
    bad = noisy.clone()
    bad[3, 4] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        make_strategy("ucb").select(bad, 2)
