"""Small single-agent tables for the monotherapy tests, written here (no copied data): one
for the demo screen, and a combination table of drugs with SMILES."""

from __future__ import annotations

import numpy as np
import pandas as pd

SMILES = {
    "ethanol": "CCO",
    "acetic acid": "CC(=O)O",
    "benzene": "c1ccccc1",
    "caffeine": "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O",
}
FEW = ["--epochs", "2", "--num-samples", "8", "--quiet"]


def demo_table(rng=None, skip=()) -> pd.DataFrame:
    """A relative-inhibition table for the demo screen (drugs D00-D23, lines C0-C3) with an
    extra bookkeeping column; ``skip``: (drug, line) entries left out."""
    rng = rng or np.random.default_rng(0)
    rows = [
        (f"D{i:02d}", f"C{j}", round(float(rng.normal(30, 20)), 3), 3)
        for i in range(24)
        for j in range(4)
        if (f"D{i:02d}", f"C{j}") not in skip
    ]
    return pd.DataFrame(rows, columns=["drug", "cell_line", "ri", "n_blocks"])


def combos(drugs=("ethanol", "acetic acid", "benzene", "caffeine"), lines=("L1", "L2")):
    rng = np.random.default_rng(1)
    rows = [
        (a, b, line, float(rng.normal(0, 10)))
        for line in lines
        for i, a in enumerate(drugs)
        for b in drugs[i + 1 :]
    ]
    return pd.DataFrame(rows, columns=["drug_a", "drug_b", "cell_line", "synergy"])
