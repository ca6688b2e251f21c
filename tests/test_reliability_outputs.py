"""Outputs that are never lost or misdirected: nothing is written or deleted through a
symbolic link, Ctrl-C while a run or its diagnostics are replaced leaves the old ones whole,
two writers of one folder cannot both succeed, and a read-only place is refused before any
work. Each test here failed on the code before these guarantees existed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import matplotlib.figure
import pandas as pd
import pytest
import torch
from cli_helpers import one_line_error, run

from synergy_ppl import outputs
from synergy_ppl.cli import main
from synergy_ppl.errors import OutputError
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.outputs import MANIFEST, record
from synergy_ppl.runs import load_fit

TINY = ["--model", "recover", "--drug-layers", "16", "--merge-dim", "8", "--head-layers", "8"]
FAST = [*TINY, "--n-bits", "64", "--epochs", "3", "--num-samples", "10", "--quiet"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) by relative path, with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def seed_of(run_dir: Path) -> int:
    return json.loads((run_dir / "config.json").read_text())["model"]["seed"]


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A fitted demo run (seed 0) with its diagnostics; tests work on copies."""
    out = tmp_path_factory.mktemp("outputs") / "run"
    assert main(["fit", *FAST, "--out", str(out)]) == 0
    assert main(["diagnose", "--run", str(out)]) == 0
    return out


@pytest.fixture
def run_dir(base_run, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(base_run, out, symlinks=True)
    return out


@pytest.fixture
def pairs(tmp_path) -> Path:
    path = tmp_path / "pairs.csv"
    pd.DataFrame({"drug_a": ["D00"], "drug_b": ["D01"], "cell_line": ["C0"]}).to_csv(path)
    return path


# ------------------------------------------------------------------ 1. symbolic links


@pytest.mark.parametrize("command", ["predict", "recommend"])
def test_overwrite_replaces_a_linked_output_never_the_file_it_points_to(
    run_dir, pairs, tmp_path, capsys, command
):
    name = {"predict": "predictions.csv", "recommend": "recommendations.csv"}[command]
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("precious\n")
    (run_dir / name).symlink_to(elsewhere)
    record(run_dir, name)  # a manifest that claims the link
    options = ["--pairs", pairs] if command == "predict" else ["--batch-size", "3"]
    status, err = run([command, "--run", run_dir, *options, "--overwrite"], capsys)
    assert status == 0, err
    assert elsewhere.read_text() == "precious\n"
    assert not (run_dir / name).is_symlink() and len(pd.read_csv(run_dir / name)) >= 1


def test_a_linked_folder_in_a_run_never_directs_a_write_or_a_delete(run_dir, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "report.html").write_text("precious")
    (elsewhere / MANIFEST).write_text(json.dumps({"written": ["report.html", "elbo.png"]}))
    shutil.rmtree(run_dir / "diagnostics")
    (run_dir / "diagnostics").symlink_to(elsewhere)  # still listed in the run's manifest
    status, err = run(["diagnose", "--run", run_dir, "--overwrite"], capsys)
    one_line_error(status, err, str(run_dir / "diagnostics"), "symbolic link")
    assert snapshot(elsewhere) == {
        "report.html": b"precious",
        MANIFEST: json.dumps({"written": ["report.html", "elbo.png"]}).encode(),
    }
    # replacing the run removes the listed link itself, never what it points to
    assert run(["fit", *FAST, "--out", run_dir, "--overwrite", "--seed", "1"], capsys)[0] == 0
    assert not os.path.lexists(run_dir / "diagnostics")
    assert (elsewhere / "report.html").read_text() == "precious"


def test_an_out_folder_that_is_a_link_is_refused(tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    status, err = run(["fit", *FAST, "--out", link], capsys)
    one_line_error(status, err, str(link), "symbolic link", str(real))
    assert not any(real.iterdir())


# ------------------------------------------------------------------ 2. interrupted writes


def interrupt_when(monkeypatch, owner, attribute: str, needle: str) -> None:
    """Make ``owner.attribute`` raise KeyboardInterrupt (Ctrl-C) when writing a path that
    contains ``needle``."""
    real = getattr(owner, attribute)

    def interrupted(*args, **kwargs):
        if any(isinstance(a, str | os.PathLike) and needle in str(a) for a in args):
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, attribute, interrupted)


@pytest.mark.parametrize(
    "owner, attribute, needle",
    [(torch, "save", "model.pt"), (pd.DataFrame, "to_csv", "elbo.csv")],
    ids=["model.pt", "elbo.csv"],
)
def test_ctrl_c_during_fit_overwrite_keeps_the_old_run_whole(
    run_dir, tmp_path, capsys, monkeypatch, owner, attribute, needle
):
    (run_dir / "notes.txt").write_text("mine")
    before = snapshot(run_dir)
    interrupt_when(monkeypatch, owner, attribute, needle)
    with pytest.raises(KeyboardInterrupt):
        main([str(a) for a in ["fit", *FAST, "--out", run_dir, "--overwrite", "--seed", "1"]])
    monkeypatch.undo()
    assert snapshot(run_dir) == before  # no temporary file either
    load_fit(run_dir)
    assert seed_of(run_dir) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no hidden leftover, no lock


def test_ctrl_c_during_diagnose_overwrite_keeps_the_old_diagnostics(run_dir, capsys, monkeypatch):
    before = snapshot(run_dir)
    interrupt_when(monkeypatch, matplotlib.figure.Figure, "savefig", "ppc.png")
    with pytest.raises(KeyboardInterrupt):
        main(["diagnose", "--run", str(run_dir), "--overwrite"])
    monkeypatch.undo()
    assert snapshot(run_dir) == before
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == [MANIFEST]


def write_folder(out: Path, overwrite: bool, **files: str) -> None:
    """An output folder written through :func:`replacing_folder`."""
    with outputs.replacing_folder(out, overwrite, files) as new:
        record(new, *files)
        for name, text in files.items():
            (new / name).write_text(text)


def test_a_swap_that_cannot_finish_puts_the_old_output_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_folder(out, False, a="old a", b="old b")
    (out / "notes.txt").write_text("mine")
    before = snapshot(out)
    real = os.rename

    def refuse_b(src, dst):  # moving the new b in fails; putting things back works
        if Path(dst) == out / "b" and ".new-" in str(src):
            raise PermissionError(13, "Permission denied", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "rename", refuse_b)
    with pytest.raises(OutputError, match="the old one is unchanged"):
        write_folder(out, True, a="new a", b="new b")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_users_file_in_an_owned_folder_survives_the_swap(tmp_path):
    out = tmp_path / "out"
    write_folder(out, False, a="old a")
    (out / "sub").mkdir()
    record(out, "sub")
    record(out / "sub", "ours.txt")
    (out / "sub" / "ours.txt").write_text("ours")
    (out / "sub" / "mine.txt").write_text("mine")
    write_folder(out, True, a="new a")
    assert (out / "a").read_text() == "new a" and (out / "sub" / "mine.txt").read_text() == "mine"
    assert (
        not (out / "sub" / "ours.txt").exists()
        and "sub" in json.loads((out / MANIFEST).read_text())["written"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_ctrl_c_held_through_the_swap_never_removes_what_then_takes_its_old_name(
    tmp_path, monkeypatch
):
    out = tmp_path / "out"
    real = outputs._swap_in

    def swap_then_interrupt(new: Path, base: Path) -> None:
        real(new, base)  # the new output is in; its hidden folder's random name is free
        new.mkdir()  # someone else's folder now has that name
        (new / "theirs.txt").write_text("theirs")
        os.kill(os.getpid(), signal.SIGINT)  # held until the swap's block ends

    monkeypatch.setattr(outputs, "_swap_in", swap_then_interrupt)
    # Python's Ctrl-C handler, also where the test runner was started in the background
    # (a non-interactive shell's & starts it with SIGINT ignored)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            write_folder(out, False, a="new a")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (out / "a").read_text() == "new a"
    theirs = [p for p in tmp_path.iterdir() if p.name != "out"]
    assert len(theirs) == 1 and (theirs[0] / "theirs.txt").read_text() == "theirs"


# ------------------------------------------------------------------ 3. one writer at a time


def write_lock(run_dir: Path, pid: int) -> Path:
    lock = run_dir.parent / f".{run_dir.name}.lock"  # beside the folder it locks
    lock.write_text(
        json.dumps({"pid": pid, "host": socket.gethostname(), "started": "2031-01-02 03:04:05"})
    )
    return lock


def test_a_second_fit_into_a_locked_folder_is_refused_naming_the_first(run_dir, capsys):
    before = snapshot(run_dir)
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        lock = write_lock(run_dir, first.pid)
        status, err = run(["fit", *FAST, "--out", run_dir, "--overwrite", "--seed", "1"], capsys)
        one_line_error(status, err, str(run_dir), f"pid {first.pid}", "2031-01-02", str(lock))
        status, err = run(["fit", *FAST, "--out", run_dir, "--overwrite"], capsys)
        one_line_error(status, err, f"pid {first.pid}")
    finally:
        first.kill()
        first.wait()
    assert lock.exists()  # a live writer's lock is never taken away
    assert snapshot(run_dir) == before


def test_a_killed_fits_lock_and_leftovers_neither_block_nor_stay(run_dir, tmp_path, capsys):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = write_lock(run_dir, gone.pid)
    half = tmp_path / ".run.new-0123abcd"  # what a fit killed while writing leaves
    half.mkdir()
    (half / "config.json").write_text("{}")
    (half / MANIFEST).write_text(json.dumps({"written": ["config.json"]}))
    status, err = run(["fit", *FAST, "--out", run_dir, "--overwrite", "--seed", "1"], capsys)
    assert status == 0, err
    assert seed_of(run_dir) == 1 and load_fit(run_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert not lock.exists()


# ------------------------------------------------------------------ 4. read-only places


def read_only(folder: Path, monkeypatch) -> None:
    """Make ``folder`` read-only; where chmod does not stop this user (root), creating a
    file in it fails as it would on a read-only file system."""
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        real = os.open

        def refuse(path, flags, *args, **kwargs):
            if Path(path).parent == folder and flags & os.O_CREAT:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)


def no_work(*args, **kwargs):
    raise AssertionError("the work started before the output place was checked")


def test_a_read_only_output_folder_is_refused_before_any_work(
    base_run, pairs, tmp_path, capsys, monkeypatch
):
    locked = tmp_path / "locked"
    read_only(locked, monkeypatch)
    monkeypatch.setattr(SynergyBNN, "fit", no_work)
    monkeypatch.setattr(SynergyBNN, "predict", no_work)
    try:
        status, err = run(["fit", *FAST, "--out", locked / "run"], capsys)
        one_line_error(status, err, str(locked), "cannot write")
        command = ["predict", "--run", base_run, "--pairs", pairs, "--out", locked / "p.csv"]
        one_line_error(*run(command, capsys), str(locked), "cannot write")
        status, err = run(["diagnose", "--run", base_run, "--out", locked / "d"], capsys)
        one_line_error(status, err, str(locked), "cannot write")
    finally:
        locked.chmod(0o755)
    assert not any(locked.iterdir())
