"""Run settings from option values: the one place where an option's name becomes a field of a
config object.

Values are resolved in three layers, each over the last: the config objects' defaults (for
``simulate`` the model fitted each round, :data:`~synergy_ppl.active.ROUND_OPTIONS`), the
sections of a config file (``data:``, ``model:``, ``simulation:``), then the options given.
The command line and sweeps both resolve here, so a sweep's options are checked against the
config objects exactly as the command line's are.

Option names are the command line's long options with underscores (``drug_layers``). Most are
a config field of the same name; the exceptions are listed in :data:`RENAMED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from .active import PRETRAIN_KINDS, LabRules, SimulationConfig, round_options
from .config import ModelConfig
from .data import DataConfig
from .errors import OptionError
from .options import read_yaml, short, typed_fields
from .transfer import Transfer

COMMANDS = ("fit", "simulate")
"""The commands whose options resolve into settings (what a sweep can run)."""
RENAMED = {
    "fit": {"prior_scale": ("model", "prior_kwargs.scale"), "widen": ("transfer", "widen")},
    "simulate": {
        "prior_scale": ("model", "prior_kwargs.scale"),
        "widen": ("transfer", "widen"),
        "acquisition": ("simulation", "strategies"),
        "batch_size": ("simulation", "pairs_per_round"),
        "fit_batch_size": ("model", "batch_size"),
    },
}
"""Options whose config field has another name: option -> (section, field). ``transfer``
is the transfer's ``mode``; in ``simulate`` ``batch_size`` is the pairs tested per round
and ``fit_batch_size`` the SVI minibatch of each round's fit."""
VALIDATION_OPTIONS = {
    "refit": "the second fit on the training and validation rows",
    "calibrate": "the noise's calibration on the validation rows",
    "stop_on": "early stopping",
    "patience": "early stopping",
}
"""``fit`` options that act through the validation rows -> what they control."""
TABLE_SCREENS = ("oneil", "almanac")
"""Built-in screens with a cell-line feature table."""


@dataclass
class Settings:
    """Everything a ``fit`` or ``simulate`` run is built from.

    ``prior_from`` (fit): a fitted run to start from, as ``transfer`` says. ``simulation``
    (simulate): the rounds, strategies and pretraining; its ``transfer`` is the one used.
    """

    data: DataConfig
    model: ModelConfig
    transfer: Transfer
    prior_from: str | None = None
    simulation: SimulationConfig | None = None


def option_names(command: str) -> dict[str, tuple[str, str]]:
    """Option name -> (section, field) of every option ``command`` resolves."""
    _check_command(command)
    names = {f.name: ("data", f.name) for f in fields(DataConfig)}
    sections = ("prior_kwargs", "likelihood_kwargs")  # config-file mappings, not options
    names |= {f.name: ("model", f.name) for f in fields(ModelConfig) if f.name not in sections}
    names["transfer"] = ("transfer", "mode")
    if command == "fit":
        names["prior_from"] = ("fit", "prior_from")
    else:
        skip = {"strategies", "pairs_per_round", "transfer", "lab"}
        names |= {
            f.name: ("simulation", f.name) for f in fields(SimulationConfig) if f.name not in skip
        }
        names |= {f.name: ("lab", f.name) for f in fields(LabRules)}
        del names["batch_size"]  # simulate's --batch-size is the pairs per round (RENAMED)
    return names | RENAMED[command]


def resolve(
    command: str,
    given: Mapping | None = None,
    file_sections: Mapping[str, Mapping] | None = None,
    source: str = "options",
) -> Settings:
    """The :class:`Settings` of ``command``: defaults, then ``file_sections`` (a config file's
    ``data:`` / ``model:`` / ``simulation:`` mappings of fields), then ``given`` (option name
    -> value; ``None`` values are skipped).

    Values are checked against the config objects' field types and ranges: an unknown option,
    a value of the wrong type or out of range raises :class:`OptionError` naming it (errors
    from ``given`` name ``source``, e.g. a sweep's ``fixed``). So does an option given (in
    ``given`` or the file) that would change nothing: one the model family does not read,
    one that needs validation rows without any, a cell-line table that would go unused
    (:func:`refuse_ignored`).
    """
    names = option_names(command)
    given = {k.replace("-", "_"): v for k, v in (given or {}).items() if v is not None}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise OptionError(
            f"{source}: unknown option(s) {unknown} of '{command}'; options: {sorted(names)}."
        )
    sections: dict[str, dict] = {s: dict(v or {}) for s, v in (file_sections or {}).items()}
    allowed = {"data", "model"} | ({"simulation"} if command == "simulate" else set())
    extra = sorted(set(sections) - allowed)
    if extra:
        raise OptionError(f"{source}: unknown section(s) {extra}; sections: {sorted(allowed)}.")
    for name, value in given.items():
        section, field = names[name]
        if field == "prior_kwargs.scale":
            model = sections.setdefault("model", {})
            model["prior_kwargs"] = {**(model.get("prior_kwargs") or {}), "scale": value}
        else:
            sections.setdefault(section, {})[field] = value
    where = "" if source == "options" else f"{source}: "
    data = DataConfig.from_dict(sections.get("data", {}), f"{where}data")
    model_section = sections.get("model", {})
    given_model = {k for k, v in model_section.items() if v is not None and v != {}}
    defaults = round_options(model_section.get("model")) if command == "simulate" else {}
    model = ModelConfig.from_dict({**defaults, **model_section}, f"{where}model")
    simulation = sections.get("simulation", {})
    for nested in ("transfer", "lab"):  # a config file's nested mappings
        if isinstance(simulation.get(nested), Mapping):
            sections[nested] = {**simulation.pop(nested), **sections.get(nested, {})}
    transfer_options = typed_fields(Transfer, sections.get("transfer", {}), f"{where}transfer")
    transfer = Transfer(**transfer_options, given=given_model)
    if command == "fit":
        prior_from = sections.get("fit", {}).get("prior_from")
        if prior_from is not None and not isinstance(prior_from, str | Path):
            raise OptionError(f"prior_from: expected a run directory, not {short(prior_from)}.")
        refuse_ignored(command, data, model, given_model, prior_from is not None, where)
        return Settings(data, model, transfer, None if prior_from is None else str(prior_from))
    values = typed_fields(SimulationConfig, simulation, f"{where}simulation")
    lab = LabRules(**typed_fields(LabRules, sections.get("lab", {}), f"{where}simulation.lab"))
    simulation = SimulationConfig(**values, transfer=transfer, lab=lab)
    simulation.check()
    refuse_ignored(command, data, model, given_model, simulation.pretrain not in PRETRAIN_KINDS)
    if simulation.pretrain_dropout is not None and model.dropout is None:
        raise OptionError(
            f"{where}pretrain_dropout: model {model.model} has no dropout; drop the option.",
            parameter=("pretrain_dropout", "model"),
        )
    return Settings(data, model, transfer, simulation=simulation)


def refuse_ignored(
    command: str,
    data: DataConfig,
    model: ModelConfig,
    given: set[str],
    from_run: bool,
    where: str = "",
) -> None:
    """Raise :class:`OptionError` if an option the user gave (``given``: model fields given
    on the command line or in a config file) would change nothing.

    ``from_run``: the fit starts from a fitted run (``--prior-from``, ``--pretrain RUN``),
    whose family and features it takes; :meth:`Transfer.model_config` checks the family's
    options then.
    """
    if not from_run:
        model.refuse_unread(given)
    if command == "fit" and not from_run and "trunk_anchor" in given and model.trunk_anchor:
        raise OptionError(
            f"{where}trunk_anchor ties the point layers to a pretrained model's values and "
            "acts only with prior_from RUN; drop it.",
            parameter=("trunk_anchor", "prior_from"),
        )
    early = sorted(given & set(VALIDATION_OPTIONS))
    if command == "fit" and early and data.val_fraction == 0:
        name = early[0]
        given_as = f"{name}=False" if getattr(model, name) is False else name
        raise OptionError(
            f"{where}{given_as} acts on {VALIDATION_OPTIONS[name]}, which needs validation "
            "rows, and val_fraction 0 leaves none (every epoch runs and the last is kept); "
            f"drop {given_as} or give val_fraction F > 0.",
            parameter=(name, "val_fraction"),
        )
    if command == "fit" and from_run and data.cell_features:
        raise OptionError(
            f"{where}cell_features: a fit from prior_from takes the pretrained model's "
            "cell-line features; drop it.",
            parameter=("cell_features", "prior_from"),
        )
    if data.cell_features and model.cell_components == 0 and not from_run:
        default = "" if "cell_components" in given else " by default"
        raise OptionError(
            f"{where}cell_features: model {model.model} uses one-hot cell lines "
            f"(cell_components 0{default}), so the table would be ignored; give "
            "cell_components K (K principal components of it) or drop cell_features.",
            parameter=("cell_features", "model", "cell_components"),
        )
    has_table = data.cell_features or data.data in TABLE_SCREENS
    if "cell_components" in given and model.cell_components and not (has_table or from_run):
        raise OptionError(
            f"{where}cell_components {model.cell_components}: data {data.data} has no "
            "cell-line table to project (its lines are one-hot); give cell_features PATH "
            "or drop cell_components.",
            parameter=("cell_components", "data", "cell_features"),
        )


def read_config_file(path: str | Path) -> dict:
    """The ``data:`` and ``model:`` sections of a YAML/JSON config file (``fit --config``),
    for :func:`resolve`'s ``file_sections``."""
    values = read_yaml(path) or {}
    if not isinstance(values, dict) or set(values) - {"data", "model"}:
        raise OptionError(f"{path}: a config file has the sections 'data:' and 'model:' only.")
    for section in ("data", "model"):
        if not isinstance(values.get(section) or {}, dict):
            raise OptionError(f"{path}: '{section}:' must be a mapping of options.")
    return values


def _check_command(command: str) -> None:
    if command not in COMMANDS:
        raise OptionError(f"command '{command}' is not one of {list(COMMANDS)}.")
