"""The synthetic demo screen: fingerprint-like drugs and a known low-rank truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .screen import Screen


def make_demo_screen(
    n_drugs: int = 24,
    n_cell_lines: int = 4,
    n_bits: int = 128,
    rank: int = 3,
    noise_scale: float = 3.0,
    noise_df: float = 4.0,
    untested_fraction: float = 0.1,
    seed: int = 0,
) -> Screen:
    """A synthetic screen with a known truth, small enough to fit in seconds.

    Each drug has a fingerprint-like bit vector ``x_d`` (``n_bits`` bits, about 10% set); its
    latent profile is ``u_d = x_d W`` with a fixed random ``W`` of shape ``(n_bits, rank)``.
    The true synergy of drugs (a, b) in cell line c is the low-rank, order-invariant form

        f(a, b, c) = 10 * sum_k u_ak * u_bk * v_ck + m_c,

    with cell-line profiles ``v_c`` and offsets ``m_c``; the measured score adds Student-t
    noise (``noise_df`` degrees of freedom, scale ``noise_scale``), so a few rows are
    outliers as in real screens. The truth is kept in the ``true_score`` column.
    ``untested_fraction`` of the triples are left out, as in a real screen, so that
    ``recommend`` has untested candidates to rank.

    Returns
    -------
    Screen
        Named ``demo``; drugs ``D00, D01, ...`` described by their bit vectors
        (``drug_features``, no SMILES), cell lines ``C0, C1, ...`` one-hot.

    Examples
    --------
    >>> screen = make_demo_screen(n_drugs=5, n_cell_lines=2, untested_fraction=0.0)
    >>> len(screen.table), screen.drugs[:2], screen.cell_lines
    (20, ['D00', 'D01'], ['C0', 'C1'])
    """
    rng = np.random.default_rng(seed)
    bits = (rng.random((n_drugs, n_bits)) < 0.1).astype(np.float32)
    projection = rng.normal(0.0, 1.0 / np.sqrt(n_bits * 0.1), (n_bits, rank))
    drug_profiles = bits @ projection
    cell_profiles = rng.normal(0.0, 1.0, (n_cell_lines, rank))
    cell_offsets = rng.normal(0.0, 2.0, n_cell_lines)
    drugs = [f"D{i:02d}" for i in range(n_drugs)]
    cells = [f"C{i}" for i in range(n_cell_lines)]
    a, b = np.triu_indices(n_drugs, k=1)
    rows = []
    for c in range(n_cell_lines):
        truth = 10.0 * np.einsum("nk,nk,k->n", drug_profiles[a], drug_profiles[b], cell_profiles[c])
        truth = truth + cell_offsets[c]
        noise = noise_scale * rng.standard_t(noise_df, size=len(a))
        rows.append(
            pd.DataFrame(
                {
                    "drug_a": np.asarray(drugs)[a],
                    "drug_b": np.asarray(drugs)[b],
                    "cell_line": cells[c],
                    "score": truth + noise,
                    "true_score": truth,
                    "n_replicates": 1,
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    # a stream of its own, so the measured rows are the same whatever the fraction
    untested = np.random.default_rng([seed, 1]).random(len(table)) < untested_fraction
    table = table[~untested].reset_index(drop=True)
    features = pd.DataFrame(bits, index=drugs, columns=[f"bit{i}" for i in range(n_bits)])
    return Screen(table, {}, features, None, "demo", len(table))
