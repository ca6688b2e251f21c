import numpy as np
import pandas as pd
import pytest
import torch

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataError, Screen, load_screen
from synergy_ppl.data.features import (
    build_features,
    encode_pairs,
    morgan_fingerprints,
    standardised_projection,
)
from synergy_ppl.errors import OptionError

SMILES = {"ethanol": "CCO", "benzene": "c1ccccc1", "aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O"}


def test_morgan_fingerprints_are_bit_vectors_of_the_configured_size():
    fp = morgan_fingerprints(SMILES, list(SMILES), radius=2, n_bits=512)
    assert fp.shape == (3, 512) and set(np.unique(fp)) <= {0.0, 1.0}
    assert fp[2].sum() > fp[0].sum() > 0  # aspirin has more substructures than ethanol
    wider = morgan_fingerprints(SMILES, ["aspirin"], radius=3, n_bits=512)
    assert wider.sum() > fp[2].sum()  # a larger radius adds environments


@pytest.mark.parametrize("bad", ["C1CC", "not a smiles", "", None])
def test_invalid_or_missing_smiles_names_the_drug(bad):
    with pytest.raises(DataError, match="drug 'broken'"):
        morgan_fingerprints({**SMILES, "broken": bad}, ["ethanol", "broken"])


def test_drug_matrix_is_fingerprint_plus_one_hot_and_cells_one_hot():
    table = pd.DataFrame(
        {
            "drug_a": ["aspirin", "benzene"],
            "drug_b": ["ethanol", "ethanol"],
            "cell_line": ["X", "Y"],
            "score": [1.0, 2.0],
        }
    )
    features = build_features(Screen(table, SMILES), n_bits=256)
    assert features.drug_matrix.shape == (3, 256 + 3)
    assert torch.equal(features.drug_matrix[:, 256:], torch.eye(3))
    assert torch.equal(features.cell_matrix, torch.eye(2))
    a, b, c = encode_pairs(features, table)
    assert a.tolist() == [0, 1] and b.tolist() == [2, 2] and c.tolist() == [0, 1]
    no_identity = build_features(Screen(table, SMILES), n_bits=256, one_hot_drugs=False)
    assert no_identity.drug_matrix.shape == (3, 256)


def test_new_drugs_get_a_fingerprint_and_no_identity():
    table = pd.DataFrame(
        {"drug_a": ["benzene"], "drug_b": ["ethanol"], "cell_line": ["X"], "score": [1.0]}
    )
    features = build_features(Screen(table, SMILES), n_bits=128)
    grown = features.with_new_drugs({"aspirin": SMILES["aspirin"]})
    assert grown.drugs[-1] == "aspirin" and grown.drug_matrix.shape == (3, 128 + 2)
    assert grown.drug_matrix[-1, 128:].sum() == 0 and grown.drug_matrix[-1, :128].sum() > 0
    with pytest.raises(DataError, match=r"unknown drug\(s\) \['caffeine'\]"):
        features.drug_index(["caffeine"])


def test_cell_table_is_standardised_and_projected(shared_data):
    screen = load_screen("oneil", data_dir=shared_data)
    projected = standardised_projection(screen.cell_features, 8)
    assert projected.shape == (39, 8)
    assert np.isfinite(projected.to_numpy()).all()
    assert np.abs(projected.to_numpy()).max() < 50  # near-constant columns do not blow up
    features = build_features(screen, n_bits=64, cell_components=8)
    assert features.cell_matrix.shape == (39, 8)
    assert features.drug_matrix.shape == (38, 64 + 38)


def test_one_hot_only_features_for_drugs_and_cell_lines(shared_data):
    screen = load_screen("oneil", data_dir=shared_data)
    features = build_features(screen, n_bits=0, cell_components=0)
    assert torch.equal(features.drug_matrix, torch.eye(38))
    assert torch.equal(features.cell_matrix, torch.eye(39))
    with pytest.raises(DataError, match="without fingerprints"):
        features.with_new_drugs({"caffeine": "CN1C=NC2=C1C(=O)N(C(=O)N2C)C"})
    with pytest.raises(OptionError, match="no features"):
        ModelConfig(model="factorization", n_bits=0, one_hot_drugs=False)
