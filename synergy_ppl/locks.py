"""One writer per output folder, and no Ctrl-C in the middle of a swap.

:func:`output_lock` holds the lock file ``.<name>.lock`` beside an output folder, created with
``O_CREAT | O_EXCL`` (so of two processes exactly one creates it) and holding the pid, host and
start time of its owner. A second writer is refused with one line naming the first. A lock
whose pid no longer runs on this host is stale (its process was killed) and is taken over; a
lock of another host cannot be checked and is left to the user.

:func:`signals_held` defers SIGINT and SIGTERM for the few renames of a swap, so an
interrupt lands before or after it, never inside.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

FRESH_SECONDS = 30.0
"""An unreadable lock younger than this may still be being written by its owner."""


def lock_file(out: str | Path) -> Path:
    """The lock file of output folder ``out``: ``.<name>.lock`` in its parent folder."""
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}.lock"


@contextmanager
def output_lock(out: str | Path) -> Iterator[Path]:
    """Hold the lock of ``out`` (its parent folder must exist) for the ``with`` block.

    Raises :class:`OutputError` naming the holder while another live process holds it.
    """
    path = lock_file(out)
    mine = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "token": secrets.token_hex(8),
    }
    _acquire(path, Path(out), mine)
    try:
        yield path
    finally:
        if _read(path) == mine:  # never remove a lock that is no longer ours
            path.unlink(missing_ok=True)


def _acquire(path: Path, out: Path, mine: dict) -> None:
    for _ in range(5):
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _read(path)
            if not _stale(path, holder):
                raise OutputError(_held_message(path, out, holder)) from None
            _take_over(path, holder)
            continue
        with os.fdopen(handle, "w") as stream:
            json.dump(mine, stream)
        return
    raise OutputError(f"{out} is locked by {path}, which keeps coming back; try again.")


def _take_over(path: Path, holder: dict | None) -> None:
    """Remove the stale lock ``holder`` read at ``path``: renamed aside first, so of two
    processes taking it over only one succeeds; a fresh lock grabbed by mistake goes back."""
    aside = path.with_name(f"{path.name}.{secrets.token_hex(4)}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    if _read(aside) != holder:  # someone else took over first and this is their lock
        try:
            os.link(aside, path)
        except OSError:
            pass
    aside.unlink(missing_ok=True)


def _read(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _stale(path: Path, holder: dict | None) -> bool:
    """Whether the lock's owner is certainly gone: its pid does not run on this host (or
    the file is unreadable and too old to be one still being written)."""
    if holder is None or not isinstance(holder.get("pid"), int) or holder["pid"] <= 0:
        try:
            return time.time() - path.stat().st_mtime > FRESH_SECONDS
        except OSError:
            return True  # gone meanwhile: try creating it again
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it runs
        return False
    return False


def _held_message(path: Path, out: Path, holder: dict | None) -> str:
    if holder is None:
        return (
            f"{out} is being written by another synergy-ppl (lock file {path}); wait for it "
            "to finish, or delete that file if no synergy-ppl writes there."
        )
    pid, host = holder.get("pid"), holder.get("host")
    return (
        f"{out} is being written by another synergy-ppl (pid {pid} on {host}, started "
        f"{holder.get('started')}); wait for it to finish, or if that process no longer "
        f"runs, delete {path}."
    )


@contextmanager
def signals_held() -> Iterator[None]:
    """Defer SIGINT (Ctrl-C) and SIGTERM until the ``with`` block ends, then deliver them.
    Outside the main thread (where Python cannot set handlers) nothing is deferred."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.signal(number, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
        for number in caught[:1]:
            signal.raise_signal(number)
