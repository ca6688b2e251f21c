"""The built-in screens (O'Neil, NCI-ALMANAC): where they live, their download, their loaders.

The data directory is ``--data-dir``, else ``$SYNERGY_PPL_DATA``, else the user's cache
(:func:`resolve_data_dir`). :func:`download` fetches a screen there once from its public home;
the loaders read it with the same readers and checks as a user's table (:mod:`.tables`).
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .aggregates import AGGREGATES
from .screen import Screen
from .tables import (
    assemble_screen,
    read_cell_features,
    read_smiles,
    read_table,
    standardise_table,
)

CHEMICALX_ONEIL = "https://raw.githubusercontent.com/AstraZeneca/chemicalx/main/dataset/oneil/"
DATASETS: dict[str, dict[str, str]] = {
    "oneil": {
        "oneil/labels.csv": "https://www.bioinf.jku.at/software/DeepSynergy/labels.csv",
        "oneil/drugs.csv": CHEMICALX_ONEIL + "drug_set.json",
        "oneil/cell_line_features.json": CHEMICALX_ONEIL + "context_set.json",
    },
}
"""Public homes of the built-in screens that download automatically: local file -> URL."""

ALMANAC_HOME = "https://wiki.nci.nih.gov/display/NCIDTPdata/NCI-ALMANAC"
"""Where NCI distributes NCI-ALMANAC (not downloaded automatically)."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/synergy_ppl`` (``~/.cache/synergy_ppl``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "synergy_ppl"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data directory: the argument, else ``$SYNERGY_PPL_DATA``, else the cache."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get("SYNERGY_PPL_DATA"):
        return Path(os.environ["SYNERGY_PPL_DATA"])
    return default_cache_dir()


def download(name: str, data_dir: str | Path | None = None) -> Path:
    """Download a built-in screen once from its public home into the data directory.

    Files already present are kept. The O'Neil labels come from DeepSynergy (with the
    published folds), the drug SMILES and cell-line features from ChemicalX's copy (the
    drug JSON is converted to ``drugs.csv``). NCI-ALMANAC is distributed by NCI as a large
    per-well archive from which ComboScores must be aggregated; it is not fetched
    automatically (the error says where to get it and the layout to place it in).

    Parameters
    ----------
    name : str
        ``oneil``, ``drugcomb`` or ``drugcombdb`` (``almanac`` raises a :class:`DataError`
        that says how to get it).
    data_dir : str or Path, optional
        Where to put it; see :func:`resolve_data_dir`.

    Returns
    -------
    Path
        The data directory.
    """
    if name == "almanac":
        raise DataError(
            f"NCI-ALMANAC is not downloaded automatically: get ComboDrugGrowth from {ALMANAC_HOME} "
            "and place almanac/combo_scores.csv (drug_a,drug_b,cell_line,synergy), "
            "almanac/drugs.csv (name,pubchemid,isosmiles) and almanac/cell_line_expression.csv "
            "in the data directory, as described in the README."
        )
    sources = {**DATASETS, **{kind: a.files for kind, a in AGGREGATES.items()}}
    if name not in sources:
        raise DataError(f"no public source is known for '{name}'; known: {sorted(sources)}")
    root = resolve_data_dir(data_dir)
    for local, url in sources[name].items():
        target = root / local
        if target.exists():
            continue
        try:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https only)
                payload = response.read()
        except (OSError, ValueError) as err:  # URLError, timeouts and HTTP errors are OSErrors
            raise DataError(
                f"cannot download {url} ({getattr(err, 'reason', err)}). Offline? Fetch it on a "
                f"machine that is online and place it at {target}, then rerun."
            ) from err
        if not url.endswith(".csv") and local.endswith(".csv"):
            payload = _drug_json_to_csv(json.loads(payload))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")  # never half a file under its name
        partial.write_bytes(payload)
        partial.replace(target)
    return root


def _drug_json_to_csv(drugs: dict | list) -> bytes:
    """A drug JSON as CSV: ChemicalX's ``{drug: {"smiles": ...}}`` becomes ``drug,smiles``;
    DrugComb's list of drug records keeps its fields (``dname``, ``smiles``, ...)."""
    if isinstance(drugs, dict):
        rows = [(drug, entry["smiles"]) for drug, entry in drugs.items()]
        return pd.DataFrame(rows, columns=["drug", "smiles"]).to_csv(index=False).encode()
    return pd.DataFrame(drugs).to_csv(index=False).encode()


def aggregate_file(kind: str, data_dir: str | Path | None = None) -> Path:
    """The combination table of a downloaded aggregate (``synergy-ppl download KIND``)."""
    return _data_file(resolve_data_dir(data_dir), kind, AGGREGATES[kind].table_file)


def _data_file(root: Path, name: str, relative: str) -> Path:
    path = root / relative
    if not path.exists():
        raise DataError(
            f"{path}: the '{name}' screen was not found in {root}. Pass data_dir, set "
            f"SYNERGY_PPL_DATA, or download it once with `synergy-ppl download {name}`.",
            parameter="data_dir",
        )
    return path


def load_oneil(data_dir: str | Path | None = None, keep_fold: bool = True) -> Screen:
    """The O'Neil et al. 2016 screen as benchmarked by DeepSynergy.

    Parameters
    ----------
    data_dir : str or Path, optional
        See :func:`resolve_data_dir`.
    keep_fold : bool
        Keep the published leave-combination-out folds as the ``fold`` column.
    """
    root = resolve_data_dir(data_dir)
    labels_path = _data_file(root, "oneil", "oneil/labels.csv")
    table = standardise_table(
        read_table(labels_path, text=True),
        {"drug_a": "drug_a_name", "drug_b": "drug_b_name", "score": "synergy"},
        source=str(labels_path),
        keep_fold=keep_fold,
    )
    smiles = read_smiles(_data_file(root, "oneil", "oneil/drugs.csv"))
    features_path = _data_file(root, "oneil", "oneil/cell_line_features.json")
    cell = pd.DataFrame.from_dict(json.loads(features_path.read_text()), orient="index")
    return assemble_screen(table, smiles, cell, "oneil", str(labels_path))


def load_almanac(data_dir: str | Path | None = None) -> Screen:
    """NCI-ALMANAC ComboScores (Holbeck et al. 2017); drugs named by their PubChem CID.

    Parameters
    ----------
    data_dir : str or Path, optional
        See :func:`resolve_data_dir`.
    """
    root = resolve_data_dir(data_dir)
    scores_path = _data_file(root, "almanac", "almanac/combo_scores.csv")
    table = standardise_table(read_table(scores_path, text=True), source=str(scores_path))
    smiles = read_smiles(_data_file(root, "almanac", "almanac/drugs.csv"), "pubchemid", "isosmiles")
    cell = read_cell_features(_data_file(root, "almanac", "almanac/cell_line_expression.csv"))
    return assemble_screen(table, smiles, cell, "almanac", str(scores_path))
