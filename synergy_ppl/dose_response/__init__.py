"""Synergy scores from raw dose-response wells.

A drug-combination screen measures, for each *block* (one drug pair in one cell line, usually one
plate), the response of cells to a grid of dose pairs ``(d_a, d_b)``. Wells with ``d_b = 0`` are
drug A alone, wells with ``d_a = 0`` are drug B alone, and wells with both doses positive are
combinations. A reference model predicts the response of each combination if the drugs did not
interact; the *excess* ``observed - expected`` (in percentage points of inhibition, positive =
synergy) is averaged and maximised over the combination doses of a block. All responses are
handled as **% inhibition** ``E = 100 - viability``.

The data flow, one module per step (each imports only from the ones before it):

* :mod:`.wells` -- the normalised well table (:data:`WELL_COLUMNS`) every step hands on, its
  limits and error, and :func:`validate_wells` (can every block be scored?);
* :mod:`.layouts` -- :func:`read_wells`: NCI-ALMANAC, O'Neil, SynergyFinder or generic input
  -> wells, bad rows refused by row number, blocks built, response in % inhibition;
* :mod:`.reference` -- the reference models on arrays: Bliss, HSA, Loewe, ZIP, NCI's expected
  growth, and the Hill fits Loewe and ZIP rest on (the math is in its docstrings);
* :mod:`.scoring` -- wells -> excess over each model per dose pair (:func:`score_doses`) and per
  block (:func:`score_blocks`); :func:`score_wells` runs the whole path from a file.

Typical use::

    table = score_wells("plate_export.csv")  # drug_a, drug_b, cell_line, synergy, ...
"""

from .layouts import read_wells
from .reference import (
    MODELS,
    HillCurve,
    bliss_expected,
    fit_hill,
    hsa_expected,
    loewe_expected,
    nci_expected_growth,
    zip_delta,
)
from .scoring import score_blocks, score_doses, score_file, score_wells
from .wells import (
    MAX_ABS_RESPONSE,
    UNKNOWN_CELL_LINE,
    WELL_COLUMNS,
    DoseResponseError,
    validate_wells,
)

__all__ = [
    "MAX_ABS_RESPONSE",
    "MODELS",
    "UNKNOWN_CELL_LINE",
    "WELL_COLUMNS",
    "DoseResponseError",
    "HillCurve",
    "bliss_expected",
    "fit_hill",
    "hsa_expected",
    "loewe_expected",
    "nci_expected_growth",
    "read_wells",
    "score_blocks",
    "score_doses",
    "score_file",
    "score_wells",
    "validate_wells",
    "zip_delta",
]
