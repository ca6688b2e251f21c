"""The errors a user's input can cause. The command line turns each into one line and exit 2.

Anything else that escapes is a bug in synergy_ppl and keeps its traceback.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input: the message names the file, row, column, option or value and what to do."""


class DataError(UserError):
    """A table, drug table, feature table or run folder that cannot be used as it is."""


class OptionError(UserError):
    """An option (command line, config file or Python argument) outside its valid values."""


class OutputError(UserError):
    """An output path that is taken, or that synergy_ppl did not write and must not replace."""


class TrainingDiverged(UserError):
    """Training produced a non-finite or exploding loss; the message says what to change."""
