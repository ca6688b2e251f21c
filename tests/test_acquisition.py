"""Tests for synergy_ppl.acquisition on hand-made samples with known answers."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from synergy_ppl.acquisition import (
    SCORES,
    STRATEGIES,
    AcquisitionSettings,
    BatchConstraints,
    QExpectedImprovement,
    QUpperConfidenceBound,
    ThompsonBatch,
    TopSetInformation,
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
    valid = "greedy, ucb, ei, pi, thompson, random, q-ei, q-ucb, thompson-batch, top-set-info"
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
    batch = make_strategy(name, noise_sd=1.0, best_f=0.5).select(noisy, q, exclude, gen(0))
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
            make_strategy(name, noise_sd=1.0, best_f=0.0).select(noisy[0], 2)
    bad = noisy.clone()
    bad[3, 4] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        make_strategy("ucb").select(bad, 2)


# --- lab rules on a batch -------------------------------------------------------------------


def lab(n: int = 30, **limits) -> BatchConstraints:
    """Candidate j: cell line j % 5, drugs (j % 6, 6 + j % 4), cost 1 + j % 3."""
    j = torch.arange(n)
    return BatchConstraints(j % 5, j % 6, 6 + j % 4, (1 + j % 3).double(), **limits)


def check_rules(batch: torch.Tensor, rules: BatchConstraints) -> None:
    lines = rules.line[batch]
    drugs = torch.cat([rules.drug_a[batch], rules.drug_b[batch]])
    if rules.max_lines is not None:
        assert len(set(lines.tolist())) <= rules.max_lines
    if rules.max_drug_uses is not None:
        assert int(torch.bincount(drugs).max()) <= rules.max_drug_uses
    if rules.budget is not None:
        assert float(rules.costs()[batch].sum()) <= rules.budget + 1e-9


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize(
    "limits",
    [{"max_lines": 2}, {"max_drug_uses": 2}, {"budget": 9.0}, {"max_lines": 1, "budget": 6.0}],
)
def test_every_strategy_honours_the_lab_rules(noisy, name, limits):
    rules = lab(**limits)
    exclude = torch.arange(30) % 7 == 0
    batch = make_strategy(name, noise_sd=1.0, best_f=0.5).select(noisy, 12, exclude, gen(1), rules)
    assert len(batch) > 0 and len(set(batch.tolist())) == len(batch)
    assert not exclude[batch].any()
    check_rules(batch, rules)


def test_top_q_under_rules_is_the_greedy_choice_among_feasible():
    scores = torch.tensor([9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    line = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    drug_a, drug_b = torch.zeros(10, dtype=torch.long), torch.arange(1, 11)
    # two lines: 0 and 1 come first, then every later candidate of lines 0 or 1
    two_lines = BatchConstraints(line, drug_a, drug_b, max_lines=2)
    assert top_q(scores, 5, constraints=two_lines).tolist() == [0, 1, 3, 4, 6]
    # drug 0 is in every candidate: at most 3 uses end the batch at 3
    assert top_q(scores, 5, constraints=replace(two_lines, max_drug_uses=3)).tolist() == [0, 1, 3]
    # a budget of 10 with costs 4, 7, 1, 1, ...: 0 (4), skip 1 (7 > 6), then 2, 3, 4 ... until 10
    cost = torch.tensor([4.0, 7.0, 1, 1, 1, 1, 1, 1, 1, 1])
    budget = BatchConstraints(line, drug_a, drug_b, cost, budget=10.0)
    assert top_q(scores, 10, constraints=budget).tolist() == [0, 2, 3, 4, 5, 6, 7]


def test_without_rules_the_batches_are_unchanged(noisy):
    free = lab()
    for name in STRATEGIES:
        strategy = make_strategy(name, best_f=0.5, noise_sd=1.0)
        plain = strategy.select(noisy, 8, None, gen(3))
        assert torch.equal(plain, strategy.select(noisy, 8, None, gen(3), free))


def test_q_ucb_with_one_line_picks_its_best_batch_in_that_line(twins):
    # candidates 0, 1 in line 0; 2, 3 in line 1: with one line, q-ucb's 2-batch stays in line 0
    rules = BatchConstraints(
        torch.tensor([0, 0, 1, 1]),
        torch.tensor([0, 1, 2, 3]),
        torch.tensor([4, 5, 6, 7]),
        max_lines=1,
    )
    assert make_strategy("q-ucb").select(twins, 2, constraints=rules).tolist() == [0, 1]
    assert make_strategy("q-ucb").select(twins, 2).tolist() == [0, 2]


def test_constraints_check_their_arguments():
    j = torch.arange(4)
    with pytest.raises(ValueError, match=r"drug_b must have shape \(4,\)"):
        BatchConstraints(j, j, j[:3])
    with pytest.raises(ValueError, match="cost must be finite and >= 0"):
        BatchConstraints(j, j, j, torch.tensor([1.0, -1, 1, 1]))
    with pytest.raises(ValueError, match="max_lines must be an integer >= 1"):
        BatchConstraints(j, j, j, max_lines=0)
    with pytest.raises(ValueError, match="describe 4 candidates, not 30"):
        make_strategy("ucb").select(torch.randn(5, 30), 2, constraints=BatchConstraints(j, j, j))


# --- what chose each pick -------------------------------------------------------------------


def batch_value(utility: torch.Tensor, batch: list[int]) -> float:
    return float(utility[:, batch].max(dim=1).values.mean()) if batch else 0.0


@pytest.mark.parametrize("name", ["q-ei", "q-ucb"])
def test_gains_of_a_greedy_batch_sum_to_its_value(noisy, name):
    strategy = make_strategy(name, best_f=0.5)
    batch = strategy.select(noisy, 6, generator=gen(0))
    gains = strategy.gains(noisy, batch)
    if name == "q-ei":
        utility = (noisy - 0.5).clamp(min=0)
    else:
        utility = strategy.utility(noisy)
    picks = batch.tolist()
    steps = [
        batch_value(utility, picks[: t + 1]) - batch_value(utility, picks[:t]) for t in range(6)
    ]
    assert gains.tolist() == pytest.approx(steps, rel=1e-5, abs=1e-6)
    assert (gains[1:] >= -1e-9).all()  # adding a candidate never lowers the batch maximum


def test_thompson_gains_are_the_share_of_draws_a_pick_tops(twins):
    exclude = torch.tensor([False, False, False, True])
    batch = torch.tensor([0, 2])
    gains = ThompsonBatch().gains(twins, batch, exclude)
    # the first pick against {0, 1, 2}, the second against what was left: {1, 2}
    top0 = (twins[:, 0] >= twins[:, :3].max(dim=1).values).double().mean()
    top2 = (twins[:, 2] >= twins[:, 1:3].max(dim=1).values).double().mean()
    assert gains.tolist() == pytest.approx([float(top0), float(top2)])
    assert ThompsonBatch.gain_text.format(0.25) == "tops the untested rest in 25% of draws"


def test_top_q_gains_are_the_scores_of_the_picks(noisy):
    strategy = make_strategy("ucb", kappa=2.0)
    batch = strategy.select(noisy, 4)
    assert torch.equal(strategy.gains(noisy, batch), ucb(noisy, 2.0)[batch])


@pytest.mark.parametrize("name", ["q-ei", "q-ucb"])
def test_once_one_pick_tops_every_draw_the_rest_are_the_best_alone(name):
    # candidate 0 is far above the rest in every draw, so the others add nothing to the
    # batch's value; they then come in the order of their own value, not of their index
    noise = 0.1 * torch.randn(200, 5, generator=gen(0))
    samples = torch.tensor([100.0, 1.0, 5.0, 3.0, 2.0]) + noise
    assert make_strategy(name, best_f=0.0).select(samples, 4).tolist() == [0, 2, 3, 4]


# --- information about the top set -------------------------------------------------------------


def brute_force_risk(samples: torch.Tensor, batch: list[int], k: int, noise_sd: float) -> float:
    """R(B) of TopSetInformation written out with loops over the truth u and draws s, t."""
    f = samples.double()
    n_draws = f.shape[0]
    tops = [set(f[s].topk(k).indices.tolist()) for s in range(n_draws)]
    total = 0.0
    for u in range(n_draws):
        log_w = torch.tensor(
            [
                sum(-((f[u, j] - f[s, j]) ** 2) / (4 * noise_sd**2) for j in batch)
                for s in range(n_draws)
            ],
            dtype=torch.float64,
        )
        w = torch.softmax(log_w, 0)
        for s in range(n_draws):
            for t in range(n_draws):
                total += float(w[s] * w[t]) * (1 - len(tops[s] & tops[t]) / k)
    return total / n_draws


def test_top_set_information_gains_are_the_drops_of_the_written_out_risk():
    samples = torch.randn(7, 9, generator=gen(4)) * torch.linspace(0.5, 2.0, 9)
    strategy = TopSetInformation(noise_sd=0.7, top_k=3, outer_draws=7)
    batch = strategy.select(samples, 3)
    risks = [brute_force_risk(samples, batch.tolist()[:t], 3, 0.7) for t in range(4)]
    gains = strategy.gains(samples, batch)
    assert gains.tolist() == pytest.approx(np.diff(risks) * -1, abs=1e-9)
    # each pick lowers R most among the shortlist: the 2q candidates not yet chosen with the
    # highest p_j - r_j / N (share of draws with j in their top 3, rank by the mean, N = 9)
    share = {j: sum(j in samples[s].topk(3).indices.tolist() for s in range(7)) for j in range(9)}
    rank = {j: r for r, j in enumerate(samples.mean(0).argsort(descending=True).tolist())}
    order = sorted(range(9), key=lambda j: -(share[j] / 7 - rank[j] / 9))
    for t, j in enumerate(batch.tolist()):
        shortlist = [o for o in order if o not in batch.tolist()[:t]][:6]
        assert j in shortlist
        best = min(brute_force_risk(samples, [*batch.tolist()[:t], o], 3, 0.7) for o in shortlist)
        assert risks[t + 1] <= best + 1e-9


def test_top_set_information_measures_what_tells_the_draws_apart():
    # half the draws put candidate 0 on top, half candidate 1; candidate 2 is certain and
    # never on top, candidate 3 certain and low: measuring 0 or 1 settles the top set
    half = torch.tensor([[5.0, 0.0, 1.0, -3.0]]).repeat(20, 1)
    samples = torch.cat([half, half[:, [1, 0, 2, 3]]])
    strategy = TopSetInformation(noise_sd=0.5, top_k=1)
    batch = strategy.select(samples, 1)
    assert batch.tolist()[0] in (0, 1)
    assert strategy.gains(samples, batch).tolist() == pytest.approx([0.5], abs=1e-6)


def test_top_set_information_needs_the_noise_sd():
    with pytest.raises(ValueError, match="'top-set-info' needs noise_sd"):
        make_strategy("top-set-info")
    with pytest.raises(ValueError, match="noise SD > 0, not 0.0"):
        make_strategy("top-set-info", noise_sd=0.0)
