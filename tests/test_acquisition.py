"""Tests for synergy_ppl.acquisition on hand-made samples with known answers."""

import math

import pytest
import torch

from synergy_ppl.acquisition import (
    ACQUISITIONS,
    BATCH_METHODS,
    AcquisitionContext,
    acquisition_scores,
    capped_top_q,
    decayed_kappa,
    expected_improvement,
    greedy,
    per_draw_incumbent,
    probability_of_improvement,
    random_scores,
    select_batch,
    sequential_q_ei,
    sequential_q_ucb,
    thompson,
    thompson_batch,
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


def test_decayed_kappa():
    assert decayed_kappa(2.0, 0, 0.5) == 2.0
    assert decayed_kappa(2.0, 3, 0.5) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="round_index"):
        decayed_kappa(1.0, -1, 0.5)
    with pytest.raises(ValueError, match="decay"):
        decayed_kappa(1.0, 1, 0.0)


def test_ei_zero_where_no_draw_beats_incumbent():
    samples = torch.tensor([[0.5, 1.5, 3.0], [0.9, 0.5, 1.0]])
    ei = expected_improvement(samples, best_f=1.0)
    assert ei[0] == 0.0
    assert ei[1] > 0 and ei[2] > 0
    assert torch.allclose(ei, torch.tensor([0.0, 0.25, 1.0]))


def test_noisy_ei_with_per_draw_incumbent():
    samples = torch.tensor([[2.0, 1.0], [2.0, 1.0]])
    best = torch.tensor([1.5, 0.0])  # draw 0 has a high incumbent, draw 1 a low one
    assert torch.allclose(expected_improvement(samples, best), torch.tensor([1.25, 0.5]))
    with pytest.raises(ValueError, match=r"\(S,\) = \(2,\).*got shape \(3,\)"):
        expected_improvement(samples, torch.zeros(3))


def test_per_draw_incumbent_takes_max_over_tested_columns():
    samples = torch.tensor([[1.0, 3.0, 9.0], [4.0, 2.0, 9.0]])
    tested = torch.tensor([True, True, False])
    assert per_draw_incumbent(samples, tested).tolist() == [3.0, 4.0]
    with pytest.raises(ValueError, match="at least one tested"):
        per_draw_incumbent(samples, torch.zeros(3, dtype=torch.bool))


def test_pi_is_exceedance_fraction(noisy):
    pi = probability_of_improvement(noisy, best_f=0.5)
    assert ((pi >= 0) & (pi <= 1)).all()
    assert torch.allclose(pi, (noisy > 0.5).float().mean(0))
    smooth = probability_of_improvement(noisy, best_f=0.5, tau=0.1)
    assert ((smooth > 0) & (smooth < 1)).all()
    assert torch.allclose(smooth, torch.sigmoid((noisy - 0.5) / 0.1).mean(0))
    sharp = probability_of_improvement(noisy, best_f=0.5, tau=1e-6)
    assert torch.allclose(sharp, pi, atol=1e-6)
    with pytest.raises(ValueError, match="tau"):
        probability_of_improvement(noisy, 0.5, tau=0.0)


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


def test_registry_uniform_convention(noisy):
    assert set(ACQUISITIONS) == {"greedy", "ucb", "ei", "pi", "thompson", "random"}
    context = AcquisitionContext(best_f=0.0, kappa=2.0, tau=0.1, generator=gen(0))
    for name in ACQUISITIONS:
        scores = acquisition_scores(noisy, name, context)
        assert scores.shape == (noisy.shape[1],) and scores.dtype == noisy.dtype
    assert torch.equal(acquisition_scores(noisy, "ucb", context), ucb(noisy, 2.0))


@pytest.mark.parametrize("name", ["ei", "pi"])
def test_registry_requires_best_f(noisy, name):
    with pytest.raises(ValueError, match=f"'{name}' needs best_f"):
        acquisition_scores(noisy, name)


def test_unknown_acquisition_lists_valid_names(noisy):
    with pytest.raises(ValueError, match="valid: greedy, ucb, ei, pi, thompson, random"):
        acquisition_scores(noisy, "foo")


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


def test_top_q_breaks_ties_randomly():
    scores = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0])
    picks = {top_q(scores, 1, generator=gen(s)).item() for s in range(20)}
    assert len(picks) > 1 and 4 not in picks
    assert torch.equal(top_q(scores, 3, generator=gen(5)), top_q(scores, 3, generator=gen(5)))


# --- batch-aware selection ----------------------------------------------------------------------


@pytest.mark.parametrize("acquisition", ["greedy", "ucb", "ei"])
def test_plain_top_2_picks_the_twins(twins, acquisition):
    batch = select_batch(twins, 2, "top-q", acquisition=acquisition, best_f=1.0)
    assert set(batch.tolist()) == {0, 1}


def test_sequential_q_ei_diversifies(twins):
    assert sequential_q_ei(twins, 2, best_f=1.0).tolist() == [0, 2]
    assert select_batch(twins, 2, "q-ei", best_f=1.0).tolist() == [0, 2]


def test_sequential_q_ucb_diversifies(twins):
    assert sequential_q_ucb(twins, 2, kappa=1.0).tolist() == [0, 2]
    assert select_batch(twins, 2, "q-ucb", kappa=1.0).tolist() == [0, 2]


def test_sequential_q_ei_first_pick_is_ei_argmax(noisy):
    first = sequential_q_ei(noisy, 1, best_f=0.5).item()
    assert first == expected_improvement(noisy, 0.5).argmax().item()


def test_q_ucb_single_point_matches_ucb_for_gaussian_draws():
    samples = torch.randn(20000, 2, generator=gen(1)) * torch.tensor([1.0, 2.0])
    utility = samples.mean(0) + math.sqrt(math.pi / 2) * (samples - samples.mean(0)).abs()
    assert torch.allclose(utility.mean(0), ucb(samples, 1.0), atol=0.05)


def test_thompson_batch_distinct_and_reproducible(noisy):
    exclude = torch.zeros(noisy.shape[1], dtype=torch.bool)
    exclude[:10] = True
    batch = thompson_batch(noisy, 8, exclude, gen(2))
    assert len(set(batch.tolist())) == 8
    assert (batch >= 10).all()
    assert torch.equal(batch, thompson_batch(noisy, 8, exclude, gen(2)))


def test_thompson_batch_first_slot_is_argmax_of_a_draw(twins):
    first = thompson_batch(twins, 1, generator=gen(0)).item()
    assert first in set(twins.argmax(dim=1).tolist())


def test_thompson_batch_needs_enough_draws():
    with pytest.raises(ValueError, match="q=3 but S=2"):
        thompson_batch(torch.randn(2, 5, generator=gen(0)), 3)


def test_capped_top_q_respects_cap():
    scores = torch.tensor([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])
    drug_a = torch.tensor([0, 0, 0, 1, 2, 3])
    drug_b = torch.tensor([1, 2, 3, 2, 3, 4])
    batch = capped_top_q(scores, 4, drug_a, drug_b, max_per_drug=1)
    assert batch.tolist() == [0, 4]  # pairs (0,1) and (2,3); every other pair reuses a drug
    batch = capped_top_q(scores, 4, drug_a, drug_b, max_per_drug=2)
    assert batch.tolist() == [0, 1, 3, 5]
    counts = torch.bincount(torch.cat([drug_a[batch], drug_b[batch]]))
    assert counts.max() <= 2
    with pytest.raises(ValueError, match="max_per_drug"):
        capped_top_q(scores, 2, drug_a, drug_b, max_per_drug=0)
    with pytest.raises(ValueError, match=r"drug_b must be an integer tensor of shape \(6,\)"):
        capped_top_q(scores, 2, drug_a, drug_b[:3], max_per_drug=1)


@pytest.mark.parametrize("method", BATCH_METHODS)
@pytest.mark.parametrize("q", [1, 5, 40])
def test_select_batch_invariants(noisy, method, q):
    n = noisy.shape[1]
    exclude = torch.arange(n) % 3 == 0
    drugs = torch.arange(n)
    batch = select_batch(
        noisy,
        q,
        method,
        exclude=exclude,
        best_f=0.5,
        drug_a=drugs,
        drug_b=drugs + n,
        max_per_drug=1,
        generator=gen(0),
    )
    assert batch.dtype == torch.long
    assert len(batch) == min(q, int((~exclude).sum()))
    assert len(set(batch.tolist())) == len(batch)
    assert not exclude[batch].any()


def test_select_batch_errors(noisy):
    with pytest.raises(ValueError, match="valid: top-q, q-ei, q-ucb, thompson-batch, capped"):
        select_batch(noisy, 2, "best")
    with pytest.raises(ValueError, match="unknown acquisition 'eii'"):
        select_batch(noisy, 2, "top-q", acquisition="eii")
    with pytest.raises(ValueError, match="'q-ei' needs best_f"):
        select_batch(noisy, 2, "q-ei")
    with pytest.raises(ValueError, match="'ei' needs best_f"):
        select_batch(noisy, 2, "top-q", acquisition="ei")
    with pytest.raises(ValueError, match="'capped' needs drug_a"):
        select_batch(noisy, 2, "capped")
    with pytest.raises(ValueError, match=r"shape \(30,\).*shape \(29,\)"):
        select_batch(noisy, 2, "q-ucb", exclude=torch.zeros(29, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"shape \(S, N\); got \(30,\)"):
        select_batch(noisy[0], 2, "top-q")
    bad = noisy.clone()
    bad[3, 4] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        select_batch(bad, 2, "top-q")
