"""Library errors name parameters (``rank must be >= 1``); the command line writes each as its
flag (``--rank must be >= 1``): :func:`parameter_flags` derives the mapping from the parser,
:func:`in_flags` applies it to an error's message (:attr:`UserError.parameters
<synergy_ppl.errors.NamesParameters>`)."""

from __future__ import annotations

import argparse
import re

from ..errors import NamesParameters
from ..settings import COMMANDS, option_names

PARAMETER_OPTIONS = {"column_map": "columns", "strategy": "acquisition", "use_ray=False": "no_ray"}
"""Function arguments whose option has another name (``load_screen``'s ``column_map``,
``recommend``'s ``strategy``, ``run_sweep``'s ``use_ray=False``); config fields renamed per
command are in :data:`~synergy_ppl.settings.RENAMED`."""


def parameter_flags(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """Parameter (config field or function argument, as a library error names it) -> the flag
    of ``command`` that sets it: each option's ``dest`` -> its first long option, through
    :data:`PARAMETER_OPTIONS` and, for ``fit`` and ``simulate``, the settings' renamed fields
    (simulate's ``pairs_per_round`` -> ``--batch-size``, ``batch_size`` -> ``--fit-batch-size``,
    ``prior_kwargs`` -> ``--prior-scale``). A sweep's options are fit's or simulate's."""
    merged = ("simulate", "fit", "sweep") if command == "sweep" else (command,)
    return {k: v for name in merged for k, v in _flags(parser, name).items()}  # sweep's win


def _flags(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = {}
    for action in commands.choices[command]._actions:
        long = [o for o in action.option_strings if o.startswith("--")]
        if long:
            flags[action.dest] = long[0]
        if isinstance(action, argparse.BooleanOptionalAction):  # refit=False -> --no-refit
            flags[f"{action.dest}=True"], flags[f"{action.dest}=False"] = long
    renamed = dict(PARAMETER_OPTIONS)
    if command in COMMANDS:
        for option, (_, name) in option_names(command).items():
            if name != option:
                renamed[name.partition(".")[0]] = option
    return flags | {name: flags[option] for name, option in renamed.items() if option in flags}


def in_flags(err: NamesParameters, flags: dict[str, str]) -> str:
    """``err``'s message with each parameter it carries (``err.parameters``) written as its
    flag in ``flags`` where the message names it as a word: ``rank must be >= 1`` -> ``--rank
    must be >= 1``, ``refit=False`` -> ``--no-refit``. The word stays inside a path or file
    name, a quoted value, a key (``score=``), a dotted config key (``model.rank``) and as
    prose after a participle (``the pretrained model``); a parameter no flag sets stays."""
    names = sorted((n for n in flags if n.partition("=")[0] in err.parameters), key=len)
    if not names:
        return str(err)
    alternatives = "|".join(map(re.escape, reversed(names)))  # the longest first
    word = re.compile(rf"(?<![\w.'/=-])(?<!ed )({alternatives})(?![\w/=-]|\.\w)")
    return word.sub(lambda match: flags[match.group(1)], str(err))
