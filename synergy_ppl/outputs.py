"""Output folders and files. Whatever synergy_ppl writes is listed in the folder's manifest
(``.synergy-ppl.json``) before it is written, and ``overwrite`` replaces or removes only what
a manifest lists: a user's own files are never deleted or overwritten.

A folder created for an output (a run, a simulation, a sweep, diagnostics) gets a manifest of
its own; a single file written elsewhere (``predict --out``, ``score --out``) is recorded in
the manifest of the folder it lands in. Removing an owned folder removes what its own
manifest lists and then the folder, only if nothing else is left in it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import OutputError

MANIFEST = ".synergy-ppl.json"


def owned(folder: Path) -> set[str]:
    """Names of the entries of ``folder`` that synergy_ppl wrote (empty without a manifest)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return set()
    try:
        names = json.loads(path.read_text()).get("written", [])
    except (json.JSONDecodeError, AttributeError, OSError):
        return set()
    return {n for n in names if isinstance(n, str) and n and "/" not in n and n not in (".", "..")}


def record(folder: Path, *names: str) -> None:
    """Add ``names`` (entries of ``folder``) to its manifest."""
    _write_manifest(Path(folder), owned(folder) | set(names))


def _write_manifest(folder: Path, names: set[str]) -> None:
    _atomic_write_text(folder / MANIFEST, json.dumps({"written": sorted(names)}, indent=1))


def remove_owned(folder: Path) -> None:
    """Delete the entries of ``folder`` that its manifest lists (folders recursively, by their
    own manifests, and then only if nothing of the user's is left in them)."""
    folder = Path(folder)
    kept = set()
    for name in owned(folder):
        entry = folder / name
        if entry.is_symlink() or entry.is_file():
            entry.unlink()
        elif entry.is_dir():
            remove_owned(entry)
            # only our emptied folder goes: its manifest, then rmdir, which refuses a
            # folder that still holds anything of the user's
            if {p.name for p in entry.iterdir()} <= {MANIFEST}:
                (entry / MANIFEST).unlink(missing_ok=True)
                entry.rmdir()
            else:
                kept.add(name)
    if (folder / MANIFEST).exists():
        _write_manifest(folder, kept)


def check_folder(out: str | Path, overwrite: bool = False, writes: Iterable[str] = ()) -> None:
    """Raise unless :func:`prepare_folder` may use ``out``; changes nothing (so a long job
    can check before it starts and replace an old output only once it has succeeded).

    A missing or empty folder is fine. A non-empty one is refused unless ``overwrite``, and
    then still refused if a user's own file is named like an entry of ``writes``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file, not a folder; choose another --out.")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise OutputError(
            f"{out} already exists and is not empty; choose another --out or pass "
            "--overwrite (which replaces only what synergy-ppl wrote there)."
        )
    foreign = sorted(set(writes) & {p.name for p in out.iterdir()} - owned(out))
    if foreign:
        raise OutputError(
            f"{out} holds {foreign}, which synergy-ppl did not write and will not replace; "
            "move them or choose another --out."
        )


def prepare_folder(out: str | Path, overwrite: bool = False, writes: Iterable[str] = ()) -> Path:
    """Create the output folder ``out``, or (``overwrite``) remove what synergy_ppl wrote in
    it; the user's own files stay. Refused as :func:`check_folder` says. A folder created
    inside another synergy_ppl folder (diagnostics in a run) is recorded in its manifest."""
    out = Path(out)
    check_folder(out, overwrite, writes)
    if out.is_dir():
        remove_owned(out)
    elif (out.parent / MANIFEST).is_file():
        record(out.parent, out.name)
    out.mkdir(parents=True, exist_ok=True)
    record(out)
    return out


def check_file(path: str | Path, overwrite: bool = False) -> None:
    """Raise unless :func:`prepare_file` may write ``path``; changes nothing.

    An existing file is refused unless ``overwrite`` and its folder's manifest records that
    synergy_ppl wrote it.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; --out needs a file name, e.g. {path / 'out.csv'}.")
    if path.exists():
        if not overwrite:
            raise OutputError(f"{path} exists; choose another --out or pass --overwrite.")
        if path.name not in owned(path.parent):
            raise OutputError(
                f"{path} was not written by synergy-ppl and will not be replaced; "
                "choose another --out."
            )


def prepare_file(path: str | Path, overwrite: bool = False) -> Path:
    """Make ``path`` ready to be written (refused as :func:`check_file` says): its folder is
    created and the file recorded in that folder's manifest. Returns ``path``."""
    path = Path(path)
    check_file(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    record(path.parent, path.name)
    return path


def write_json(path: str | Path, payload) -> None:
    """Write ``payload`` as indented JSON atomically (a crash leaves the old file whole)."""
    _atomic_write_text(Path(path), json.dumps(payload, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _atomic_write_text(path: Path, text: str) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
