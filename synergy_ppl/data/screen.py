"""The :class:`Screen`: a validated combination table with what is known about its drugs and
cell lines. Every loader in this package returns one; nothing here reads or checks files."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd


@dataclass
class Screen:
    """A drug-combination screen ready for featurisation.

    Attributes
    ----------
    table : DataFrame
        One row per unordered (pair, cell line) triple with columns ``drug_a``, ``drug_b``
        (``drug_a <= drug_b``), ``cell_line``, ``score``, ``n_replicates`` and optionally
        ``fold`` and (for the synthetic demo) ``true_score``.
    smiles : dict
        Drug name -> SMILES, for RDKit fingerprints. May be empty if ``drug_features`` is set.
    drug_features : DataFrame or None
        Ready drug feature vectors (index = drug name), used instead of fingerprints.
    cell_features : DataFrame or None
        Cell-line feature table (index = cell line). ``None`` means one-hot cell lines.
    name : str
        Where the screen came from, for the run's config.
    n_rows_read : int
        Rows in the source table before replicate averaging.
    report : dict
        What loading did besides averaging, for the run's data summary: the columns used,
        rows dropped and why, drug names cleaned to match the drug table.
    monotherapy : DataFrame or None
        Single-agent responses, ``drug, cell_line, value`` with higher = more active, one
        row per measured (drug, line); a pair without a row was never run alone. ``None``:
        no table was given (:mod:`~synergy_ppl.data.monotherapy`).
    monotherapy_info : dict or None
        Where ``monotherapy`` came from and how its values were oriented: ``source``,
        ``column``, ``direction``, ``transform``.
    """

    table: pd.DataFrame
    smiles: dict[str, str] = field(default_factory=dict)
    drug_features: pd.DataFrame | None = None
    cell_features: pd.DataFrame | None = None
    name: str = "screen"
    n_rows_read: int = 0
    report: dict = field(default_factory=dict)
    monotherapy: pd.DataFrame | None = None
    monotherapy_info: dict | None = None

    @property
    def drugs(self) -> list[str]:
        """Sorted names of the drugs that occur in the table."""
        return sorted(set(self.table["drug_a"]) | set(self.table["drug_b"]))

    @property
    def cell_lines(self) -> list[str]:
        """Sorted names of the cell lines that occur in the table."""
        return sorted(set(self.table["cell_line"]))

    def subset(self, mask: np.ndarray | pd.Series) -> Screen:
        """A screen restricted to the rows where ``mask`` is true (features and single-agent
        responses kept whole)."""
        table = self.table[np.asarray(mask)].reset_index(drop=True)
        return replace(self, table=table, n_rows_read=len(table))
