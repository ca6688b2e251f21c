"""What the reliability tests check of one command: its exit status, and that bad input is one
line on stderr with exit status 2, never a traceback."""

from __future__ import annotations

from synergy_ppl.cli import main


def run(args, capsys) -> tuple[int, str]:
    """Exit status and stderr of one command; a traceback would fail the test."""
    try:
        status = main([str(a) for a in args])
    except SystemExit as stop:  # argparse's own errors
        status = stop.code
    return status, capsys.readouterr().err


def one_line_error(status: int, err: str, *needles: str) -> str:
    """The one line of a refused command (exit 2, no traceback), holding every needle."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
