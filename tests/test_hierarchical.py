"""The hierarchical family (chemistry-tied drug embeddings), the single-agent shift of the
factorisations' embeddings, and the noise calibration on validation rows."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from monotherapy_tables import SMILES, demo_table
from pyro import poutine

import synergy_ppl as sp
from synergy_ppl.config import ModelConfig
from synergy_ppl.data.monotherapy_join import attach_monotherapy
from synergy_ppl.errors import OptionError
from synergy_ppl.inference.calibration import noise_factor, widen_noise
from synergy_ppl.inference.predictive import network_samples
from synergy_ppl.model.hierarchical import chemistry_basis, tanimoto
from synergy_ppl.state_format import migrate

SMALL = dict(rank=8, epochs=3, num_samples=12)


def test_tanimoto_of_bit_vectors_is_shared_over_union_bits():
    x = torch.tensor([[1.0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
    similarity = tanimoto(x, x)
    assert similarity[0, 1] == pytest.approx(1 / 3) and similarity[0, 0] == 1
    assert similarity[2, 2] == 0  # two empty fingerprints share nothing


def test_the_chemistry_coordinates_reproduce_the_similarity_of_the_fitted_drugs():
    bits = (torch.rand(12, 64, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    projection = chemistry_basis(bits)
    z = tanimoto(bits, bits) @ projection  # Nystroem coordinates of the basis drugs
    assert torch.allclose(z @ z.T, tanimoto(bits, bits), atol=1e-4)


def test_hierarchical_weighs_chemistry_and_a_new_drug_takes_its_chemical_twins_part():
    screen = sp.make_demo_screen(n_drugs=10, n_cell_lines=2, n_bits=32)
    bnn = sp.SynergyBNN.from_config(ModelConfig(model="hierarchical", **SMALL))
    bnn.fit(screen, progress=False)
    net = bnn.model.net
    assert bnn.config.chemistry_scale == 2.0 and net.chemistry is not None
    # a drug added for prediction with the fingerprint of D03: the same chemistry coordinates
    grown = bnn.features.with_new_drugs({})
    matrix = torch.cat([grown.drug_matrix, grown.drug_matrix[3:4]])
    matrix[-1, -grown.n_identity :] = 0.0  # no identity: it was never measured
    net.drug_matrix = matrix
    z = net.chemistry_coordinates()
    assert torch.allclose(z[-1], z[3], atol=1e-5)


def test_chemistry_scale_zero_is_the_factorisation_on_identities():
    screen = sp.make_demo_screen(n_drugs=8, n_cell_lines=2, n_bits=16)
    values = dict(rank=4, epochs=2, num_samples=6, drug_effects=0.0)
    flat = sp.SynergyBNN.from_config(
        ModelConfig(model="hierarchical", chemistry_scale=0.0, **values)
    )
    flat.fit(screen, progress=False)
    draws = flat.posterior_draws(6)
    triples = flat.triples(screen.table.head(5))
    weights = {k: v for k, v in draws.items() if k.startswith("net.")}
    drugs, _, _ = poutine.condition(flat.model.net.encode, data=weights)()
    identity = weights["net.identity.weight"]  # (S, R, D): one column per drug
    bias = weights["net.identity.bias"]
    assert torch.allclose(drugs, identity.transpose(-1, -2) + bias[:, None, :], atol=1e-5)
    assert network_samples(flat.model, draws, triples).shape == (6, 5)


@pytest.mark.parametrize(
    ("n_lines", "drug_effects", "expected"),
    [(1, None, 0.3), (24, None, 0.3), (25, None, 0.0), (24, 0.0, 0.0), (25, 0.5, 0.5)],
)
def test_latent_drug_effects_by_default_on_few_lines_as_given_otherwise(
    n_lines, drug_effects, expected
):
    screen = sp.make_demo_screen(n_drugs=6, n_cell_lines=n_lines, n_bits=16)
    config = ModelConfig(model="hierarchical", rank=4, drug_effects=drug_effects)
    assert config.drug_effects == drug_effects  # None stays the family's choice when saved
    parts = sp.SynergyBNN.from_config(config).parts
    net = parts.build(parts.features.build(screen))[0].net
    assert net.drug_effects == expected
    assert hasattr(net, "drug_effect") == (expected > 0)
    assert hasattr(net, "drug_cell_effect") == (expected > 0 and n_lines > 1)


def test_hierarchical_needs_identities_and_a_finite_chemistry_scale():
    with pytest.raises(OptionError, match="one_hot_drugs"):
        ModelConfig(model="hierarchical", one_hot_drugs=False)
    with pytest.raises(OptionError, match="chemistry_scale"):
        ModelConfig(model="hierarchical", chemistry_scale=-1.0)
    with pytest.raises(OptionError, match="chemistry_scale"):
        ModelConfig(model="factorization", chemistry_scale=1.0)


def with_single_agents(screen, skip=()):
    return attach_monotherapy(screen, demo_table(skip=skip), source="test")


@pytest.mark.parametrize("family", ["factorization", "hierarchical"])
def test_single_agent_responses_shift_the_embeddings_and_missing_ones_are_modelled(family):
    skip = {("D00", "C0"), ("D01", "C1")}
    screen = with_single_agents(sp.make_demo_screen(n_drugs=24, n_cell_lines=4), skip)
    bnn = sp.SynergyBNN.from_config(ModelConfig(model=family, **SMALL)).fit(screen, progress=False)
    shift = bnn.model.net.single_agent
    assert shift is not None and torch.isnan(bnn.features.monotherapy).sum() == len(skip)
    assert shift.missing.sum() == len(skip) and torch.isfinite(shift.values).all()
    rows = screen.table.head(40)
    before = bnn.sample(rows, noise=False)
    assert torch.isfinite(before).all()
    # a drug's activity in a line moves the predictions of its pairs there, not of others
    drug, line = rows["drug_a"].iloc[0], rows["cell_line"].iloc[0]
    d, c = bnn.features.drugs.index(drug), bnn.features.cell_lines.index(line)
    shift.values[d, c] += 3.0
    bnn.posterior._draws = None
    after = bnn.sample(rows, noise=False)
    involved = torch.tensor(
        (
            ((rows["drug_a"] == drug) | (rows["drug_b"] == drug)) & (rows["cell_line"] == line)
        ).to_numpy()
    )
    moved = (after - before).abs().amax(0) > 1e-4
    assert moved[involved].all() and not moved[~involved].any()


def test_the_grid_of_a_line_equals_its_decoded_rows_with_single_agents():
    screen = with_single_agents(sp.make_demo_screen(n_drugs=24, n_cell_lines=4))
    config = ModelConfig(model="hierarchical", drug_effects=0.3, **SMALL)
    bnn = sp.SynergyBNN.from_config(config).fit(screen, progress=False)
    draws = bnn.posterior_draws(12)
    dense = screen.table[screen.table["cell_line"] == "C0"]
    triples = bnn.triples(dense)
    weights = {k: v for k, v in draws.items() if k.startswith("net.")}
    with torch.no_grad():
        whole = poutine.condition(bnn.model.net, data=weights)(*triples)
    chunked = network_samples(bnn.model, draws, triples, chunk_size=len(dense))
    assert torch.allclose(chunked, whole, rtol=1e-5, atol=1e-5)


def test_the_noise_factor_is_the_one_under_which_held_out_rows_are_most_likely():
    generator = torch.Generator().manual_seed(0)
    function = torch.randn(1, 400, generator=generator).expand(300, 400)
    unit_noise = torch.randn(300, 400, generator=generator)
    y = function[0] + 2.0 * torch.randn(400, generator=generator)  # twice the model's noise
    assert noise_factor(function, unit_noise, y) == pytest.approx(2.0, abs=0.15)
    assert noise_factor(function[:, :5], unit_noise[:, :5], y[:5]) == 1.0  # too few rows
    noisy = function + unit_noise
    assert torch.equal(widen_noise(function, noisy, 1.0), noisy)
    assert torch.allclose(widen_noise(function, noisy, 2.0), function + 2 * unit_noise)


def test_the_noise_factor_narrows_the_noise_the_function_draws_already_explain():
    generator = torch.Generator().manual_seed(0)
    y = torch.randn(400, generator=generator)
    spread = torch.randn(64, 400, generator=generator)  # the draws alone have the scores' SD
    noise = torch.randn(64, 400, generator=generator)
    assert noise_factor(spread, noise, y) < 0.5


def test_a_fit_with_validation_rows_calibrates_its_noise_and_saves_the_factor():
    screen = sp.make_demo_screen(n_drugs=24, n_cell_lines=4)
    split = sp.split_screen(screen.table, "pair", val_fraction=0.3)
    config = ModelConfig(model="hierarchical", **SMALL)
    bnn = sp.SynergyBNN.from_config(config).fit(screen, split, progress=False)
    factor = bnn.posterior.noise_factor
    assert factor != 1.0  # three epochs leave the noise far from the held-out rows' spread
    state = bnn.state()
    assert state["noise_factor"] == factor
    again = sp.SynergyBNN.from_state(state)
    rows = screen.table.head(10)
    pd.testing.assert_frame_equal(again.predict(rows), bnn.predict(rows))
    plain = ModelConfig(model="hierarchical", calibrate=False, **SMALL)
    assert (
        sp.SynergyBNN.from_config(plain).fit(screen, split, progress=False).state()["noise_factor"]
        == 1.0
    )
    older = {key: value for key, value in state.items() if key != "guides"}
    older = {**older, "format": 2, "guide": state["guides"][0]}
    del older["noise_factor"]
    migrated = migrate(older)
    assert migrated["noise_factor"] == 1.0
    assert migrated["guides"] == [state["guides"][0]] and "guide" not in migrated


def test_a_hierarchical_run_predicts_a_new_drug_from_its_structure(tmp_path):
    drugs = list(SMILES)
    rows = [
        (a, b, line, float(i + j))
        for line in ("L1", "L2")
        for i, a in enumerate(drugs[:4])
        for j, b in enumerate(drugs[i + 1 : 4])
    ]
    table = pd.DataFrame(rows, columns=["drug_a", "drug_b", "cell_line", "synergy"])
    screen = sp.screen_from_frame(table, SMILES, columns={"score": "synergy"})
    config = ModelConfig(model="hierarchical", n_bits=128, **SMALL)
    bnn = sp.SynergyBNN.from_config(config).fit(screen, progress=False)
    new = pd.DataFrame({"drug_a": ["aspirin"], "drug_b": ["ethanol"], "cell_line": ["L1"]})
    grown = bnn.with_features(bnn.features.with_new_drugs(SMILES))
    prediction = grown.predict(new, progress=False)
    assert prediction["std"].iloc[0] > 0 and torch.isfinite(torch.tensor(prediction["mean"])).all()


def test_a_drug_without_rows_keeps_its_identity_offset_at_the_prior():
    screen = sp.make_demo_screen(n_drugs=12, n_cell_lines=2, n_bits=32)
    split = sp.split_screen(screen.table, "one-hidden-drug", seed=1)
    config = ModelConfig(model="hierarchical", **SMALL)
    bnn = sp.SynergyBNN.from_config(config).fit(screen, split, progress=False)
    hidden = bnn.without_rows["drugs"]
    assert hidden
    columns = [bnn.features.drugs.index(d) for d in hidden]
    measured = [i for i in range(12) if i not in columns]
    loc, scale = bnn.guide.loc_and_scale("net.identity.weight")
    assert torch.all(loc[:, columns] == 0)
    assert torch.allclose(scale[:, columns], torch.ones(8, len(columns)))
    assert scale[:, measured].max() < 0.5  # three epochs: the measured drugs' are still narrow
