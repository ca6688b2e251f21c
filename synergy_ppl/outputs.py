"""Output folders and files, and what synergy_ppl guarantees about them.

* Ownership: whatever synergy_ppl writes is listed in its folder's manifest
  (``.synergy-ppl.json``) before it is written, and ``overwrite`` replaces or removes only
  what a manifest lists: a user's own files are never deleted or overwritten. A folder
  created for an output (a run, a simulation, a sweep, diagnostics) gets a manifest of its
  own; a single file written elsewhere (``predict --out``, ``score --out``) is recorded in the
  manifest of the folder it lands in. Removing an owned folder removes what its own manifest
  lists and then the folder, only if nothing else is left in it.
* Whole files: every output file is written to a fresh temporary file in its own folder and
  renamed over its target (:func:`atomic_path`, :func:`write_output`), so a crash or Ctrl-C
  leaves the old file whole, and a symbolic link at the target is replaced itself: nothing is
  ever written through a link to a file elsewhere.
* Links: an output folder that is itself a symbolic link is refused (pass the folder it
  points to); removing owned entries unlinks a link and never follows it.
* Whole folders: a run or a diagnostics folder is written into a fresh hidden sibling
  (``.<name>.new-*``) and swapped in only once complete (:func:`replacing_folder`); until
  then the old output is untouched, and the swap's renames run with Ctrl-C held back. What a
  killed process leaves beside the folder is hidden and removed by the next swap.
* One writer: the swap's folder is locked (:mod:`.locks`, ``.<name>.lock`` beside it) from
  its check to its swap; a second writer is refused naming the first.
* Writable: :func:`check_folder` and :func:`check_file` create (and remove) a probe file
  where the output goes, so a read-only place is refused before any work.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError
from .locks import output_lock, signals_held

MANIFEST = ".synergy-ppl.json"
NEW, OLD = ".new-", ".old-"
"""Infixes of the hidden siblings ``.<name>.new-*`` / ``.<name>.old-*`` of a swap."""


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
    own manifests, and then only if nothing of the user's is left in them). A listed symbolic
    link is unlinked itself, never followed."""
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
    then still refused if a user's own file is named like an entry of ``writes``. A symbolic
    link is refused, and so is a place where no file can be created.
    """
    out = Path(out)
    if out.is_symlink():
        raise OutputError(
            f"{out} is a symbolic link (to {os.readlink(out)}); synergy-ppl never writes or "
            "deletes through a link: pass the folder it points to, or remove the link."
        )
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file, not a folder; choose another out.", parameter="out")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise OutputError(
                f"{out} already exists and is not empty; choose another out or pass "
                "overwrite (which replaces only what synergy-ppl wrote there).",
                parameter=("out", "overwrite"),
            )
        foreign = sorted(set(writes) & {p.name for p in out.iterdir()} - owned(out))
        if foreign:
            raise OutputError(
                f"{out} holds {foreign}, which synergy-ppl did not write and will not "
                "replace; move them or choose another out.",
                parameter="out",
            )
    _check_writable(out)  # or, where it is missing, its nearest existing ancestor


def prepare_folder(out: str | Path, overwrite: bool = False, writes: Iterable[str] = ()) -> Path:
    """Create the output folder ``out``, or (``overwrite``) remove what synergy_ppl wrote in
    it; the user's own files stay. Refused as :func:`check_folder` says. A folder created
    inside another synergy_ppl folder (diagnostics in a run) is recorded in its manifest.

    For an output that must be whole or absent, use :func:`replacing_folder` instead."""
    out = Path(out)
    check_folder(out, overwrite, writes)
    if out.is_dir():
        remove_owned(out)
    elif (out.parent / MANIFEST).is_file():
        record(out.parent, out.name)
    out.mkdir(parents=True, exist_ok=True)
    record(out)
    return out


@contextmanager
def replacing_folder(
    out: str | Path, overwrite: bool = False, writes: Iterable[str] = ()
) -> Iterator[Path]:
    """Write the output folder ``out`` whole or not at all.

    ``out`` is checked (:func:`check_folder`) and locked for the ``with`` block, which gets a
    fresh hidden sibling folder (with a manifest) to write the new output into. When the block
    ends without error, the sibling is swapped in: the entries synergy_ppl wrote in ``out``
    (its manifest) make way for the new ones, the user's own files stay. When it fails (Ctrl-C
    included), the sibling is removed and ``out`` is as it was.
    """
    out, writes = Path(out), tuple(writes)
    check_folder(out, overwrite, writes)
    base = Path(os.path.abspath(out))
    _check_writable(base.parent, f", where the new {base.name} is written, then swapped in")
    made = _make_parents(base.parent)
    try:
        with output_lock(out):
            check_folder(out, overwrite, writes)  # again, now that no one else writes there
            new = _fresh(base.parent, f".{base.name}{NEW}", directory=True)
            swapped = False
            try:
                record(new)
                yield new
                check_folder(out, overwrite, writes)  # a user's file put there meanwhile
                with signals_held():  # a held Ctrl-C is delivered as this block ends
                    _swap_in(new, base)
                    swapped = True  # ``new`` is gone: its name may be anyone's again
            finally:  # ``new`` was made by this call (exclusively): all in it is this output's
                if not swapped and new.is_dir() and not new.is_symlink():
                    shutil.rmtree(new, ignore_errors=True)
    except BaseException:
        for folder in made:  # deepest first; rmdir keeps any folder not left empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _swap_in(new: Path, out: Path) -> None:
    """Replace what synergy_ppl wrote in ``out`` by the complete output in ``new``, by renames
    within one folder: the old entries go aside into ``.<name>.old-*`` first, then the new
    ones move in, the manifest last."""
    _remove_leftovers(out, new)
    if not out.exists():
        if (out.parent / MANIFEST).is_file():
            record(out.parent, out.name)
        os.rename(new, out)
        return
    old = _fresh(out.parent, f".{out.name}{OLD}", directory=True)
    aside, moved = [], []
    try:
        for name in owned(out) | {MANIFEST}:
            if os.path.lexists(out / name):
                os.rename(out / name, old / name)
                aside.append(name)
        for entry in sorted(new.iterdir(), key=lambda p: p.name == MANIFEST):
            os.rename(entry, out / entry.name)
            moved.append(entry.name)
    except OSError as err:  # e.g. a folder that may not be moved: put everything back
        for name in moved:
            os.rename(out / name, new / name)
        for name in aside:
            os.rename(old / name, out / name)
        old.rmdir()
        raise OutputError(
            f"{out}: could not move the new output in ({err}); the old one is unchanged."
        ) from err
    new.rmdir()
    remove_owned(old)
    for entry in old.iterdir():  # an old folder of ours still holding a user's file stays
        if entry.name != MANIFEST and not os.path.lexists(out / entry.name):
            record(out, entry.name)
            os.rename(entry, out / entry.name)
    _remove_if_ours(old)


def _remove_leftovers(out: Path, keep: Path) -> None:
    """Remove the hidden siblings of ``out`` that an interrupted swap left (never ``keep``)."""
    for entry in out.parent.iterdir():
        kind = _sibling_kind(entry.name, out.name)
        if kind is None or entry == keep or entry.is_symlink() or not entry.is_dir():
            continue
        # what its manifest lists, then the folder if nothing else is left: a folder of the
        # user's that merely looks like a sibling keeps everything of theirs
        remove_owned(entry)
        _remove_if_ours(entry)


def _sibling_kind(entry: str, name: str) -> str | None:
    """NEW or OLD if ``entry`` is named like a swap sibling of ``name`` (made by _fresh)."""
    for kind in (NEW, OLD):
        prefix = f".{name}{kind}"
        tail = entry[len(prefix) :]
        if entry.startswith(prefix) and len(tail) == 8 and set(tail) <= set("0123456789abcdef"):
            return kind
    return None


def _remove_if_ours(folder: Path) -> None:
    """Remove ``folder`` if nothing but its manifest is left in it."""
    if {p.name for p in folder.iterdir()} <= {MANIFEST}:
        (folder / MANIFEST).unlink(missing_ok=True)
        folder.rmdir()


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those created, deepest first."""
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return missing


def check_file(path: str | Path, overwrite: bool = False) -> None:
    """Raise unless :func:`prepare_file` may write ``path``; changes nothing.

    An existing file (or link) is refused unless ``overwrite`` and its folder's manifest
    records that synergy_ppl wrote it; a link is then replaced itself, not its target. A place
    where no file can be created is refused.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(
            f"{path} is a folder; out needs a file name, e.g. {path / 'out.csv'}.", parameter="out"
        )
    if os.path.lexists(path):
        if not overwrite:
            raise OutputError(
                f"{path} exists; choose another out or pass overwrite.",
                parameter=("out", "overwrite"),
            )
        if path.name not in owned(path.parent):
            raise OutputError(
                f"{path} was not written by synergy-ppl and will not be replaced; "
                "choose another out.",
                parameter="out",
            )
    _check_writable(path.parent)


def prepare_file(path: str | Path, overwrite: bool = False) -> Path:
    """Make ``path`` ready to be written (refused as :func:`check_file` says): its folder is
    created and the file recorded in that folder's manifest. Returns ``path``."""
    path = Path(path)
    check_file(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    record(path.parent, path.name)
    return path


def _check_writable(folder: Path, why: str = "") -> None:
    """Raise :class:`OutputError` unless a file can be created in ``folder`` or, where it
    does not exist yet, in its nearest existing ancestor (by creating and removing one)."""
    while not os.path.lexists(folder):
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{folder} is not a folder; choose another out.", parameter="out")
    try:
        _fresh(folder, ".synergy-ppl-probe-").unlink()
    except OSError as err:
        raise OutputError(
            f"cannot write in {folder} ({err.strerror or err}){why}; choose another out or "
            "make that folder writable.",
            parameter="out",
        ) from err


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temporary file beside ``path`` (same suffix) to write ``path``'s content to;
    when the block succeeds it is renamed over ``path`` (``os.replace``: atomic, and a link at
    ``path`` is replaced itself, never its target), when it fails it is removed."""
    path = Path(path)
    tmp = _fresh(path.parent, f".{path.name}.", f".tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_output(path: str | Path, writer: Callable[[Path], object]) -> Path:
    """Write ``path`` whole or not at all: ``writer(tmp)`` writes a temporary file, which
    then replaces ``path`` (see :func:`atomic_path`). Returns ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def _fresh(folder: Path, prefix: str, suffix: str = "", directory: bool = False) -> Path:
    """A new file (or folder) ``folder/<prefix><random><suffix>``, created exclusively (an
    existing name or link is never reused) with the umask's usual permissions."""
    for _ in range(100):
        path = Path(folder) / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            if directory:
                os.mkdir(path, 0o777)
            else:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free temporary name in {folder}")


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
    write_output(path, lambda tmp: tmp.write_text(text))
