"""Library errors name parameters, the command line names flags (issue 31): a notebook user
reads ``rank must be >= 1``, a command-line user ``--rank must be >= 1``, from one message
whose error carries the parameters it names (``UserError.parameters``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from cli_helpers import one_line_error, run

import synergy_ppl
from synergy_ppl.active import LabRules, SimulationConfig
from synergy_ppl.cli import build_parser
from synergy_ppl.cli.flags import in_flags, parameter_flags
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig
from synergy_ppl.errors import OptionError, OutputError, TrainingDiverged
from synergy_ppl.inference.svi import learning_rate_advice

PACKAGE = Path(synergy_ppl.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z]")
"""A long option as the command line writes it (``--rank``); ``ls="--"`` is no flag."""


def divergence() -> TrainingDiverged:
    return TrainingDiverged(
        f"training diverged: the loss became nan; {learning_rate_advice(1, 2)}."
    )


API_ERRORS = [
    (lambda: ModelConfig(rank=0), "rank must be >= 1", ("rank",)),
    (lambda: ModelConfig(lr=-1), "lr must be > 0", ("lr",)),
    (lambda: DataConfig(test_fraction=2), "test_fraction must be > 0", ("test_fraction",)),
    (lambda: DataConfig(split="fold"), "split fold needs test_fold K", ("split", "test_fold")),
    (lambda: SimulationConfig(seeds=0).check(), "seeds must be >= 1", ("seeds",)),
    (lambda: LabRules(max_lines=0).check(), "max_lines must be an integer >= 1", ("max_lines",)),
]


# ------------------------------------------------------------ (a) the Python API: parameters
@pytest.mark.parametrize(("make", "words", "parameters"), API_ERRORS)
def test_python_api_errors_name_the_parameter_and_no_flag(make, words, parameters):
    with pytest.raises(OptionError) as caught:
        make()
    assert words in str(caught.value) and "--" not in str(caught.value)
    assert caught.value.parameters == parameters


def test_a_diverged_fit_advises_the_learning_rate_parameters():
    err = divergence()
    assert "lower lr (now 1) or guide_lr (now 2)" in str(err) and "--" not in str(err)
    assert err.parameters == ("lr", "guide_lr")  # what TrainingDiverged carries by default


# ---------------------------------------------------------- (b) the command line: its flags
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["fit", "--rank", "0"], "--rank must be >= 1"),
        (["fit", "--lr", "-1"], "--lr must be > 0"),
        (["fit", "--test-fraction", "2"], "--test-fraction must be > 0"),
        (["fit", "--split", "fold"], "--split fold needs --test-fold K"),
        (["simulate", "--seeds", "0"], "--seeds must be >= 1"),
        (["simulate", "--max-lines", "0"], "--max-lines must be an integer >= 1"),
        (["simulate", "--fit-batch-size", "0"], "--fit-batch-size must be >= 1"),  # batch_size
        (["fit", "--val-fraction", "0", "--no-refit"], "drop --no-refit"),  # refit=False
    ],
)
def test_the_same_errors_on_the_command_line_name_the_flag(args, words, tmp_path, capsys):
    status, err = run([*args, "--out", tmp_path / "out"], capsys)
    one_line_error(status, err, words)


def test_a_diverged_fit_on_the_command_line_advises_the_flags(monkeypatch, tmp_path, capsys):
    def diverge(*args, **kwargs):
        raise divergence()

    monkeypatch.setattr("synergy_ppl.runs.fit_run", diverge)
    status, err = run(["fit", "--quiet", "--out", tmp_path / "run"], capsys)
    one_line_error(status, err, "lower --lr (now 1) or --guide-lr (now 2)")


def test_renamed_parameters_map_to_their_command_s_flag():
    parser = build_parser()
    simulate, recommend = parameter_flags(parser, "simulate"), parameter_flags(parser, "recommend")
    assert simulate["pairs_per_round"] == "--batch-size"
    assert simulate["batch_size"] == "--fit-batch-size"
    assert simulate["strategies"] == recommend["strategy"] == "--acquisition"
    assert parameter_flags(parser, "fit")["prior_kwargs"] == "--prior-scale"
    assert parameter_flags(parser, "fit")["refit=False"] == "--no-refit"
    sweep = parameter_flags(parser, "sweep")  # its own flags, fit's, then simulate's
    assert [sweep[name] for name in ("out", "prior", "pairs_per_round")] == [
        "--out",
        "--prior",
        "--batch-size",
    ]


def test_only_the_parameter_words_become_flags():
    flags = parameter_flags(build_parser(), "fit")
    err = OutputError(
        "out/out.csv is a file; choose another out or pass overwrite.", ("out", "overwrite")
    )
    assert (
        in_flags(err, flags) == "out/out.csv is a file; choose another --out or pass --overwrite."
    )
    err = OptionError("model.rank: 'rank' rank=2, rank_x; rank.", "rank")
    assert in_flags(err, flags) == "model.rank: 'rank' rank=2, rank_x; --rank."
    assert in_flags(OptionError("rank must be >= 1"), flags) == "rank must be >= 1"  # none carried
    err = OptionError("model recover, but the pretrained model has model factorization.", "model")
    assert in_flags(err, flags).startswith("--model recover, but the pretrained model has --model")


# ---------------------------------------------------------- (c) no flag in library messages
def _docstrings(tree: ast.AST) -> set[int]:
    """Ids of the string statements (module, class, function and attribute docstrings)."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        for statement in body if isinstance(body, list) else []:  # a lambda's is an expression
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                found.add(id(statement.value))
    return found


def flag_strings(path: Path) -> list[str]:
    """``path:line: text`` of each string literal (an f-string whole) that names a flag,
    docstrings aside."""
    tree = ast.parse(path.read_text())
    skip = _docstrings(tree)
    skip |= {
        id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            parts = (v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            text = "".join(parts)
        else:
            continue
        if FLAG.search(text):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {text!r}")
    return found


def test_no_message_outside_the_command_line_names_a_flag():
    """Library errors name parameters (``rank``); only ``cli/`` writes flags (``--rank``)."""
    paths = [
        p for p in sorted(PACKAGE.rglob("*.py")) if "cli" not in p.relative_to(PACKAGE).parts[:1]
    ]
    offenders = [line for path in paths for line in flag_strings(path)]
    assert not offenders, (
        "strings naming a flag outside synergy_ppl/cli/ (name the parameter "
        "and pass it as the error's parameter=):\n" + "\n".join(offenders)
    )


def test_the_scan_finds_a_flag():
    assert FLAG.search("lower --lr") and not FLAG.search('ls="--"') and not FLAG.search("a--b")
