"""The ``synergy-ppl`` command line: parse options (:mod:`.parser`), call the library
(:mod:`.commands`) and print; bad input is one line on stderr and exit status 2."""

from __future__ import annotations

import sys
import warnings

from ..errors import NamesParameters, UserError
from .flags import in_flags, parameter_flags
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input (a :class:`UserError`) is one line on stderr and exit 2,
    and warnings are one line each."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        try:
            status = args.func(args)
        except UserError as err:  # the error says it all; warnings on the way are dropped
            message = _one_line(in_flags(err, parameter_flags(parser, args.command)))
            print(f"synergy-ppl {args.command}: error: {message}", file=sys.stderr)
            return 2
    for warning in caught:
        message = warning.message
        if isinstance(message, NamesParameters):
            message = in_flags(message, parameter_flags(parser, args.command))
        print(f"synergy-ppl {args.command}: warning: {_one_line(message)}", file=sys.stderr)
    return status


def _one_line(message) -> str:
    return " ".join(str(message).split())
