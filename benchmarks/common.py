"""Shared pieces of the benchmark scripts: machine description, threads, tables, JSON output.

Every benchmark's JSON carries :func:`machine` so that a number is never separated from the
hardware, library versions and thread count it was measured with.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import pyro
import torch

from synergy_ppl import outputs

RESULTS = Path(__file__).resolve().parent / "results"
"""Default output folder (git-ignored)."""


def add_common_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    """``--threads``, ``--data-dir``, ``--out`` and ``--smoke``, shared by every script."""
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: two threads on a loaded 2-core machine "
        "were 5x slower)",
    )
    parser.add_argument("--data-dir", help="folder with oneil/ and almanac/ (or $SYNERGY_PPL_DATA)")
    parser.add_argument("--out", default=str(RESULTS / default_out), help="where to write JSON")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that takes seconds")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (the platform's processor string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(threads: int) -> dict:
    """Cores, CPU model, load, library versions and the torch thread count in use."""
    torch.set_num_threads(threads)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "load_average_1min": os.getloadavg()[0],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def describe(info: dict) -> str:
    """One line describing :func:`machine`'s output, printed above every table."""
    return (
        f"machine: {info['nproc']} cores, {info['cpu']}, load {info['load_average_1min']:.1f}; "
        f"torch {info['torch']}, pyro {info['pyro']}, {info['torch_threads']} torch thread(s)"
    )


def spread(values: Sequence[float]) -> dict:
    """Mean, sample SD (0 for one value), min and max of ``values``."""
    values = [float(v) for v in values]
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "sd": sd, "min": min(values), "max": max(values)}


def print_table(rows: Sequence[dict], columns: Sequence[tuple[str, Callable[[dict], str]]]) -> None:
    """Print ``rows`` as an aligned text table; ``columns`` are (header, row -> cell text)."""
    cells = [[fmt(row) for _, fmt in columns] for row in rows]
    headers = [header for header, _ in columns]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def write_json(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON, atomically (parents created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_json(path, payload)
    return path
