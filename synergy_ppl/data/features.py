"""Drug and cell-line feature matrices: RDKit Morgan fingerprints, one-hot identities, tables.

The model never sees names: it receives integer indices into a drug matrix ``(D, F)`` and a
cell-line matrix ``(C, G)``. :class:`FeatureSet` holds those matrices with their vocabularies
and can grow the drug matrix for new drugs at prediction time (fingerprint from SMILES, zero
one-hot part, since the network has never seen that identity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from rdkit import Chem, RDLogger
from rdkit.Chem import rdFingerprintGenerator

from ..errors import DataError, OptionError
from .monotherapy_join import standardised_grid
from .screen import Screen

MAX_BITS = 16384
"""Most Morgan fingerprint bits: far more than any fingerprint model uses (1024-4096), and
the ``(drugs, n_bits)`` matrix is allocated at once."""


def morgan_fingerprints(
    smiles: Mapping[str, str], drugs: Sequence[str], radius: int = 2, n_bits: int = 1024
) -> np.ndarray:
    """Morgan (ECFP-like) bit vectors for ``drugs``, shape ``(len(drugs), n_bits)``.

    An invalid or missing SMILES raises :class:`DataError` naming the drug: a placeholder
    fingerprint would silently give the drug the features of "no structure". ``n_bits`` above
    :data:`MAX_BITS` raises :class:`OptionError` before anything is allocated.
    """
    if not isinstance(n_bits, int) or isinstance(n_bits, bool) or not 1 <= n_bits <= MAX_BITS:
        raise OptionError(f"n_bits must be an integer from 1 to {MAX_BITS}, not {n_bits!r}.")
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(drugs), n_bits), dtype=np.float32)
    RDLogger.DisableLog("rdApp.*")  # the error below says more than RDKit's parse log
    try:
        for i, drug in enumerate(drugs):
            text = smiles.get(drug)
            mol = Chem.MolFromSmiles(text) if isinstance(text, str) and text.strip() else None
            if mol is None:
                raise DataError(
                    f"drug '{drug}': SMILES {text!r} is missing or cannot be parsed by RDKit. "
                    "Correct it in the drug table."
                )
            out[i] = generator.GetFingerprintAsNumPy(mol)
    finally:
        RDLogger.EnableLog("rdApp.*")
    return out


def standardised_projection(table: pd.DataFrame, n_components: int | None) -> pd.DataFrame:
    """Z-score each column across rows (constant columns dropped), then PCA to ``n_components``.

    Cell-line tables have far more columns than lines (O'Neil: 8,785 for 39); a few
    principal components keep the network from memorising lines through noise columns.
    """
    values = table.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        bad_rows = table.index[~np.isfinite(values).all(axis=1)].tolist()
        raise DataError(f"cell-line features have NaN/infinite values for {bad_rows[:10]}.")
    std = values.std(axis=0)
    # "constant" up to float rounding: dividing by a 1e-17 SD would blow the column up
    keep = std > 1e-6 * np.maximum(1.0, np.abs(values).max(axis=0))
    z = (values[:, keep] - values[:, keep].mean(axis=0)) / std[keep]
    if n_components is None or n_components >= min(z.shape):
        return pd.DataFrame(z, index=table.index)
    u, s, _ = np.linalg.svd(z, full_matrices=False)
    scores = u[:, :n_components] * s[:n_components]
    return pd.DataFrame(scores / scores[:, :1].std(), index=table.index)


@dataclass
class FeatureSet:
    """Feature matrices and vocabularies seen by the network.

    Attributes
    ----------
    drugs : list[str]
        Drug names; row ``i`` of ``drug_matrix`` belongs to ``drugs[i]``.
    drug_matrix : Tensor, shape ``(D, F)``
        Fingerprint (or given features) followed by a one-hot identity block of width
        ``n_identity``.
    cell_lines : list[str]
        Cell-line names; row ``j`` of ``cell_matrix`` belongs to ``cell_lines[j]``.
    cell_matrix : Tensor, shape ``(C, G)``
        One-hot or projected feature table.
    n_identity : int
        Width of the one-hot drug identity block (0 when disabled).
    radius, n_bits : int
        Morgan fingerprint settings (to featurise new drugs the same way).
    monotherapy : Tensor, shape ``(D, C)``, or None
        Single-agent responses, float32: entry ``(i, j)`` is drug ``drugs[i]`` alone in line
        ``cell_lines[j]``, higher = more active, as a z-score over the observed entries of
        the fit (``monotherapy_info``'s mean and SD); NaN where the drug was never run alone
        in that line. None: the screen had no single-agent table.
    monotherapy_info : dict or None
        The table's ``source``, ``column``, ``direction`` and ``transform``
        (:mod:`~synergy_ppl.data.monotherapy`) and the ``mean`` and ``sd`` of the z-scores,
        with which values added later (:meth:`with_monotherapy`) are scaled.
    """

    drugs: list[str]
    drug_matrix: torch.Tensor
    cell_lines: list[str]
    cell_matrix: torch.Tensor
    n_identity: int
    radius: int
    n_bits: int
    monotherapy: torch.Tensor | None = None
    monotherapy_info: dict | None = None

    def drug_index(self, names: Sequence[str], source: str = "pairs") -> torch.Tensor:
        """Indices of ``names`` in ``drugs``; an unknown name is a :class:`DataError`."""
        return _indices(
            names,
            self.drugs,
            lambda unknown: (
                f"{source}: unknown drug(s) {unknown}. Give their SMILES with "
                "drugs PATH (columns drug,smiles) so they can be featurised."
            ),
            parameter="drugs",
        )

    def cell_index(self, names: Sequence[str], source: str = "pairs") -> torch.Tensor:
        """Indices of ``names`` in ``cell_lines``; an unknown name is a :class:`DataError`."""
        return _indices(
            names,
            self.cell_lines,
            lambda unknown: (
                f"{source}: cell line(s) {unknown} were not in the fitted model's "
                f"cell-line table ({len(self.cell_lines)} lines). Refit with those cell lines."
            ),
        )

    def with_new_drugs(
        self, smiles: Mapping[str, str], monotherapy: pd.DataFrame | None = None
    ) -> FeatureSet:
        """A copy whose drug matrix also covers the drugs in ``smiles`` not yet known.

        New drugs get their Morgan fingerprint and an all-zero identity block, and rows of
        NaN in ``monotherapy`` (never run alone), filled from the tidy single-agent table
        ``monotherapy`` where given (:meth:`with_monotherapy`).
        """
        new = [d for d in smiles if d not in set(self.drugs)]
        if not new:
            return self if monotherapy is None else self.with_monotherapy(monotherapy)
        if self.n_bits == 0:
            raise DataError(
                f"drug(s) {new[:10]} are new, but it was fitted without fingerprints (given drug "
                "features, or n_bits 0, the default of the factorization and pair-mlp "
                "families); refit with model recover to featurise new drugs from their SMILES.",
                parameter=("n_bits", "model"),
            )
        fingerprints = morgan_fingerprints(smiles, new, self.radius, self.n_bits)
        rows = np.hstack([fingerprints, np.zeros((len(new), self.n_identity), np.float32)])
        matrix = torch.cat([self.drug_matrix, torch.as_tensor(rows)])
        single = self.monotherapy
        if single is not None:
            single = torch.cat([single, torch.full((len(new), single.shape[1]), torch.nan)])
        grown = replace(self, drugs=self.drugs + new, drug_matrix=matrix, monotherapy=single)
        return grown if monotherapy is None else grown.with_monotherapy(monotherapy)

    def with_monotherapy(self, table: pd.DataFrame) -> FeatureSet:
        """A copy whose ``monotherapy`` matrix also holds ``table``'s values where it had none.

        ``table`` is a tidy single-agent table (``drug, cell_line, value``, higher = more
        active, the fit's kind of value: :func:`~.monotherapy_join.same_kind`); its values
        are scaled with the fit's mean and SD. Entries of drugs or lines outside the matrix
        are left out; one the matrix holds with another value is a :class:`DataError`.
        """
        if self.monotherapy is None:
            raise DataError(
                "the model was fitted without single-agent responses, so it cannot use a "
                "monotherapy table; drop it, or refit with one.",
                parameter="monotherapy",
            )
        z, _ = standardised_grid(table, self.drugs, self.cell_lines, self.monotherapy_info)
        current = self.monotherapy.cpu().numpy()
        both = np.isfinite(current) & np.isfinite(z)
        clash = both & ~np.isclose(current, z, rtol=1e-5, atol=1e-5)
        if clash.any():
            i, j = np.argwhere(clash)[0]
            raise DataError(
                f"drug '{self.drugs[i]}' in cell line '{self.cell_lines[j]}': the single-agent "
                f"value given differs from the one the model was fitted with "
                f"({int(clash.sum())} such entries); give the fitted values or none."
            )
        if not (np.isfinite(z) & ~np.isfinite(current)).any():
            return self  # nothing new
        merged = np.where(np.isfinite(current), current, z).astype(np.float32)
        return replace(self, monotherapy=torch.as_tensor(merged))

    def to_dict(self) -> dict:
        """A ``torch.save``-able dict (without the single-agent keys when there is no
        table, the layout of a fit before they existed)."""
        state = dict(self.__dict__)
        if self.monotherapy is None:
            del state["monotherapy"], state["monotherapy_info"]
        return state

    @classmethod
    def from_dict(cls, state: dict) -> FeatureSet:
        return cls(**state)


def _indices(
    names: Sequence[str], vocabulary: Sequence[str], message, parameter: str | tuple = ()
) -> torch.Tensor:
    """Positions of ``names`` in ``vocabulary`` ``(N,)``; unknown names raise a
    :class:`DataError` of ``message(list)`` naming ``parameter``."""
    lookup = {name: i for i, name in enumerate(vocabulary)}
    unknown = sorted({n for n in names if n not in lookup})
    if unknown:
        raise DataError(message(unknown[:10]), parameter=parameter)
    return torch.tensor([lookup[n] for n in names], dtype=torch.long)


def build_features(
    screen: Screen,
    *,
    radius: int = 2,
    n_bits: int = 1024,
    one_hot_drugs: bool = True,
    cell_components: int | None = 32,
) -> FeatureSet:
    """Featurise a screen's drugs and cell lines.

    Drugs: Morgan fingerprints from ``screen.smiles`` (none with ``n_bits=0``; or
    ``screen.drug_features`` when given), followed by a one-hot identity block as in
    RECOVER. Cell lines: one-hot when the screen has no cell-line table or
    ``cell_components=0``, else the standardised table projected onto ``cell_components``
    principal components (all lines of the table, so lines outside the training rows can be
    predicted later). Single-agent responses (``screen.monotherapy``): the ``(D, C)`` matrix
    of :attr:`FeatureSet.monotherapy`, z-scored over its observed entries.
    """
    drugs = screen.drugs
    if screen.drug_features is not None:
        missing = [d for d in drugs if d not in screen.drug_features.index]
        if missing:
            raise DataError(f"drug(s) {missing[:10]} have no row in the drug feature table.")
        base = screen.drug_features.loc[drugs].to_numpy(dtype=np.float32)
        radius, n_bits = 0, 0
    elif n_bits == 0:
        base = np.zeros((len(drugs), 0), dtype=np.float32)
    else:
        base = morgan_fingerprints(screen.smiles, drugs, radius, n_bits)
    identity = np.eye(len(drugs), dtype=np.float32) if one_hot_drugs else np.zeros((len(drugs), 0))
    drug_matrix = torch.as_tensor(np.hstack([base, identity]), dtype=torch.float32)

    if screen.cell_features is None or cell_components == 0:
        cell_lines = screen.cell_lines
        cell_matrix = torch.eye(len(cell_lines))
    else:
        projected = standardised_projection(screen.cell_features, cell_components)
        cell_lines = [str(c) for c in projected.index]
        cell_matrix = torch.tensor(projected.to_numpy(), dtype=torch.float32)
    monotherapy, info = None, None
    if screen.monotherapy is not None:
        grid, scaling = standardised_grid(screen.monotherapy, drugs, cell_lines)
        monotherapy = torch.as_tensor(grid, dtype=torch.float32)
        info = {**(screen.monotherapy_info or {}), **scaling}
    return FeatureSet(
        drugs,
        drug_matrix,
        cell_lines,
        cell_matrix,
        identity.shape[1],
        radius,
        n_bits,
        monotherapy,
        info,
    )


def encode_pairs(
    features: FeatureSet, table: pd.DataFrame, source: str = "pairs"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Index tensors ``(drug_a, drug_b, cell_line)``, each of shape ``(N,)``, for a table."""
    return (
        features.drug_index(table["drug_a"].tolist(), source),
        features.drug_index(table["drug_b"].tolist(), source),
        features.cell_index(table["cell_line"].tolist(), source),
    )
