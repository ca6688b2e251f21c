"""The errors a user's input can cause. The command line turns each into one line and exit 2.

Anything else that escapes is a bug in synergy_ppl and keeps its traceback.
"""

from __future__ import annotations


class NamesParameters:
    """A message that names parameters. ``parameter``: the parameter(s) it names, each written
    in it as the Python API and config files spell it (a config field or a function argument:
    ``rank``, ``guide_lr``; a boolean's off value ``refit=False``), kept as the tuple
    :attr:`parameters`. The command line writes each as its flag (``rank must be >= 1`` ->
    ``--rank must be >= 1``), so messages name no flag; the same word as prose right after a
    participle (``the pretrained model``) stays (:func:`synergy_ppl.cli.flags.in_flags`)."""

    def __init__(self, message: str = "", parameter: str | tuple[str, ...] = ()):
        super().__init__(message)
        self.parameters = (parameter,) if isinstance(parameter, str) else tuple(parameter)


class UserError(NamesParameters, ValueError):
    """Bad input: the message names the file, row, column, parameter or value and what to do
    (the parameters it names in :attr:`parameters`)."""


class DataError(UserError):
    """A table, drug table, feature table or run folder that cannot be used as it is."""


class OptionError(UserError):
    """A parameter (config field, config-file key or function argument; a flag on the command
    line) outside its valid values."""


class OutputError(UserError):
    """An output path that is taken, or that synergy_ppl did not write and must not replace."""


class TrainingDiverged(UserError):
    """Training produced a non-finite or exploding loss; the message says what to change, by
    default the learning rates ``lr`` and ``guide_lr`` (the parameters it carries unless
    told others)."""

    def __init__(self, message: str = "", parameter: str | tuple[str, ...] = ("lr", "guide_lr")):
        super().__init__(message, parameter)


class OptionWarning(NamesParameters, UserWarning):
    """Options that let a run go on but not as asked (a round's batch cut short)."""
