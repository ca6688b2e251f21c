"""The single-agent table of a run: what ``fit`` saves beside the model
(:data:`MONOTHERAPY_FILE`, :func:`fitted_monotherapy`), and what ``predict`` and
``recommend`` read back and merge a new table over (:func:`grown_model`).

The model's :attr:`~synergy_ppl.data.features.FeatureSet.monotherapy` matrix holds the
z-scores of the fit's drugs; the saved table holds the values themselves (oriented, higher =
more active), those of drugs without combination rows included, so that a table given at
prediction can be checked against them and a drug added at prediction finds its values.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from .data import DataError, Screen, read_smiles, read_table
from .data.features import FeatureSet
from .data.monotherapy import (
    SingleAgentTable,
    monotherapy_from_frame,
    normalise_name,
    read_monotherapy,
    single_agent_table,
)
from .data.monotherapy_join import merge_monotherapy, same_kind
from .errors import OptionError
from .estimator import SynergyBNN
from .model.families import FAMILIES

MONOTHERAPY_FILE = "monotherapy.csv"
"""The single-agent table of a model fitted with one (``drug, cell_line, value``, higher =
more active, as :attr:`Screen.monotherapy`); ``predict`` and ``recommend`` read it back."""


def fitted_monotherapy(
    screen: Screen, bnn: SynergyBNN, prior_from: str | Path | None = None
) -> pd.DataFrame | None:
    """The single-agent table to save with a fit (:data:`MONOTHERAPY_FILE`): None if its
    model holds no single-agent matrix, else the screen's table over the pretrained run's
    (``prior_from``, when its model holds one), their common entries checked to agree.

    A model that holds the matrix and whose family does not read it (no ``reads_monotherapy``
    on the network class) gets a warning: the responses change none of its predictions.
    """
    if bnn.features.monotherapy is None:
        return None
    family = bnn.config.model
    if not getattr(FAMILIES.get(family), "reads_monotherapy", False):
        warnings.warn(
            f"model {family} does not read single-agent responses (monotherapy): they are "
            "saved with the run and change none of its predictions.",
            stacklevel=2,
        )
    table = screen.monotherapy
    inherited = None if prior_from is None else Path(prior_from) / MONOTHERAPY_FILE
    if inherited is not None and inherited.is_file():
        base = read_monotherapy(inherited, "value", "higher")[0]
        if table is None:
            return base
        source = screen.monotherapy_info["source"]
        same_kind(bnn.features.monotherapy_info, screen.monotherapy_info, source)
        table = merge_monotherapy(base, table, (str(inherited), source))
    return table


def grown_model(
    bnn: SynergyBNN,
    run_dir: str | Path,
    *,
    drugs: str | Path | None = None,
    monotherapy: str | Path | SingleAgentTable | None = None,
) -> SynergyBNN:
    """``bnn`` (the fitted model of ``run_dir``) ready to predict: its drugs grown by
    ``drugs`` (a drug,smiles table of drugs the run has not seen), and its single-agent
    matrix filled from the run's own table (:data:`MONOTHERAPY_FILE`) and a new table
    ``monotherapy`` over it (a :class:`~.data.monotherapy.SingleAgentTable` or a path).

    The new table must hold the fit's kind of value (its column, direction and transform;
    the fit's column is found by name, with the fit's direction) and agree with the saved
    one where both have a value; its names must be the run's drugs and lines or those of
    ``drugs``. A new drug without a value in either stays missing (NaN). A run fitted
    without single-agent responses takes no ``monotherapy``.
    """
    monotherapy = single_agent_table(monotherapy)
    run_dir = Path(run_dir)
    features = bnn.features
    if monotherapy is not None and features.monotherapy is None:
        raise OptionError(
            f"{run_dir}: the run was fitted without single-agent responses, so its model cannot "
            "use a monotherapy table; drop monotherapy, or refit with one.",
            parameter="monotherapy",
        )
    if drugs is not None:
        features = features.with_new_drugs(read_smiles(drugs))
    if features.monotherapy is not None:
        saved = run_dir / MONOTHERAPY_FILE
        if not saved.is_file():
            raise DataError(
                f"{run_dir}: its model was fitted with single-agent responses, and "
                f"{MONOTHERAPY_FILE} is missing; the run is incomplete, refit it."
            )
        table = read_monotherapy(saved, "value", "higher")[0]
        if monotherapy is not None:
            new = _new_monotherapy(features, monotherapy)
            table = merge_monotherapy(table, new, (str(saved), str(monotherapy.path)))
        features = features.with_monotherapy(table)
    return bnn.with_features(features)


def _new_monotherapy(features: FeatureSet, given: SingleAgentTable) -> pd.DataFrame:
    """A single-agent table given at prediction, read as the fit's kind of value."""
    fitted = features.monotherapy_info
    path, column, direction = given.path, given.column, given.direction
    raw = read_table(path, text=True)
    if column is None and direction is None:  # the fit's column, if the table has it
        key = normalise_name(fitted["column"])
        match = next((c for c in raw.columns if normalise_name(c) == key), None)
        if match is not None:
            column, direction = str(match), fitted["direction"]
    new, info = monotherapy_from_frame(
        raw,
        str(path),
        column,
        direction,
        drugs=features.drugs,
        cell_lines=features.cell_lines,
        known_as="the run's drugs and lines (or the drug table given)",
    )
    same_kind(fitted, info, str(path))
    return new
