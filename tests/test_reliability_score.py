"""`synergy-ppl score` on bad input: one error line and exit 2, or a table of finite scores.

Never a traceback, never a silent non-finite or absurd score, never a change to the input file.
The wells are small tables made here; the real wells in ../shared/data/dose_response only fix
the range a % response can have.
"""

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synergy_ppl import dose_response
from synergy_ppl.cli import main
from synergy_ppl.dose_response import (
    MAX_ABS_RESPONSE,
    DoseResponseError,
    read_wells,
    score_doses,
    score_wells,
)
from synergy_ppl.errors import DataError, OptionError

SCORES = [f"{model}_{stat}" for model in dose_response.MODELS for stat in ("mean", "max")]


def wells_table() -> pd.DataFrame:
    """Two 3x3 blocks in % inhibition, generic layout: control, single agents, combinations."""
    rows = []
    for block, (drug_a, drug_b, boost) in enumerate([("A", "B", 10.0), ("A", "C", -5.0)], 1):
        for i, dose_a in enumerate([0.0, 1.0, 4.0]):
            for j, dose_b in enumerate([0.0, 0.5, 2.0]):
                alone = 1 - (1 - 0.3 * i) * (1 - 0.25 * j)
                response = 100 * alone + boost * (i > 0 and j > 0)
                rows.append((f"b{block}", drug_a, drug_b, "C1", dose_a, dose_b, response))
    return pd.DataFrame(rows, columns=list(dose_response.WELL_COLUMNS))


def as_layout(wells: pd.DataFrame, layout: str) -> pd.DataFrame:
    """The same wells in another input layout read_wells knows."""
    if layout == "generic":
        return wells.rename(columns={"response": "inhibition"})
    if layout == "viability":  # generic, no block id, viability
        viability = 100 - wells["response"]
        return wells.drop(columns=["block_id", "response"]).assign(viability=viability)
    if layout == "oneil":
        return wells.rename(
            columns={
                "drug_a": "drug1",
                "drug_b": "drug2",
                "cell_line": "cell_line_name",
                "dose_a": "conc1",
                "dose_b": "conc2",
            }
        )
    if layout == "synergyfinder":  # no cell line; the response kind comes from the controls
        renames = {"drug_a": "drug_row", "drug_b": "drug_col", "dose_a": "conc_r"}
        return wells.drop(columns="cell_line").rename(columns={**renames, "dose_b": "conc_c"})
    assert layout == "almanac"  # singles have an empty second drug; no untreated controls
    combos = wells[(wells["dose_a"] > 0) & (wells["dose_b"] > 0)]
    alone_a = wells[(wells["dose_a"] > 0) & (wells["dose_b"] == 0)]
    alone_b = wells[(wells["dose_a"] == 0) & (wells["dose_b"] > 0)]
    alone_b = alone_b.assign(drug_a=alone_b["drug_b"], dose_a=alone_b["dose_b"])
    singles = pd.concat([alone_a, alone_b]).assign(drug_b=None, dose_b=np.nan)
    table = pd.concat([combos, singles.drop_duplicates(["drug_a", "dose_a"])])
    return pd.DataFrame(
        {
            "treatment1id": table["drug_a"],
            "treatment2id": table["drug_b"],
            "treatment1dose": table["dose_a"],
            "treatment2dose": table["dose_b"],
            "CELLNAME": table["cell_line"],
            "viability": 100 - table["response"],
        }
    )


def score(path: Path, out: Path, capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    """Exit status of ``synergy-ppl score`` and its non-empty stderr lines."""
    status = main(["score", "--wells", str(path), "--out", str(out)])
    return status, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def assert_one_error_line(lines: list[str], *phrases: str) -> None:
    assert len(lines) == 1, lines
    assert lines[0].startswith("synergy-ppl score: error: "), lines
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])


def test_missing_wells_file_is_one_error_line(tmp_path: Path, capsys) -> None:
    # Old code: FileNotFoundError traceback from pandas.
    missing = tmp_path / "missing.csv"
    status, lines = score(missing, tmp_path / "out.csv", capsys)
    assert status == 2
    assert_one_error_line(lines, str(missing))
    assert not (tmp_path / "out.csv").exists()


def test_real_responses_are_far_inside_the_bound(shared_data: Path) -> None:
    # The bound must never refuse a real screen: all real % responses lie within -100..250.
    folder = shared_data / "dose_response"
    almanac = pd.read_csv(folder / "almanac_wells.csv")
    values = [
        almanac["viability"],
        almanac["PERCENTGROWTH"],
        pd.read_csv(folder / "oneil_blocks.csv")["response"],
        pd.read_csv(folder / "mathews_blocks.csv")["response"],
    ]
    assert max(v.abs().max() for v in values) <= 250 < MAX_ABS_RESPONSE
    assert len(read_wells(folder / "mathews_blocks.csv")) == 72


@pytest.mark.parametrize("layout", ["generic", "viability"])
def test_raw_counts_are_refused_naming_the_rows(tmp_path: Path, capsys, layout: str) -> None:
    # Old code: exit 0 and synergy scores of about 1e13, silently.
    table = as_layout(wells_table(), layout)
    value = "inhibition" if layout == "generic" else "viability"
    table[value] *= 1e6  # raw luminescence-like counts instead of percentages
    path = tmp_path / "counts.csv"
    table.to_csv(path, index=False)
    status, lines = score(path, tmp_path / "out.csv", capsys)
    assert status == 2
    first = int(np.flatnonzero(table[value].abs() > MAX_ABS_RESPONSE)[0]) + 1
    assert_one_error_line(
        lines, str(path), f"column '{value}'", f"data rows {first}, ", "% of the untreated control"
    )
    assert not (tmp_path / "out.csv").exists()

    at_bound = as_layout(wells_table(), "generic")
    at_bound.loc[4, "inhibition"] = MAX_ABS_RESPONSE  # generous, but still accepted
    assert np.isfinite(score_wells(at_bound)["synergy"]).all()
    at_bound.loc[4, "inhibition"] = -MAX_ABS_RESPONSE - 0.5
    with pytest.raises(DoseResponseError, match="data row 5 "):
        read_wells(at_bound)


@pytest.mark.parametrize("layout", ["generic", "viability", "almanac"])
def test_fractions_are_refused_not_scored_as_percentages(
    tmp_path: Path, capsys, layout: str
) -> None:
    # Old code: viability 0.83 read as 0.83 %, i.e. every well ~99 % inhibited, exit 0.
    table = as_layout(wells_table(), layout)
    value = "inhibition" if layout == "generic" else "viability"
    table[value] /= 100
    path = tmp_path / "fractions.csv"
    table.to_csv(path, index=False)
    status, lines = score(path, tmp_path / "out.csv", capsys)
    assert status == 2
    assert_one_error_line(lines, str(path), f"column '{value}'", "multiply by 100")
    assert not (tmp_path / "out.csv").exists()

    hand_built = wells_table().assign(response=lambda w: w["response"] / 100)
    with pytest.raises(DoseResponseError, match="multiply by 100"):
        score_wells(hand_built)
    percentages = wells_table()  # a real screen's wells: accepted
    assert np.isfinite(score_wells(percentages)["synergy"]).all()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("dose_a", np.inf, "column 'dose_a' is infinite in data row 5 "),
        ("dose_b", -np.inf, "column 'dose_b' is infinite in data row 5 "),
        ("inhibition", np.inf, "column 'inhibition' is infinite in data row 5 "),
        ("inhibition", np.nan, "column 'inhibition' is empty in data row 5;"),
        ("dose_a", "1 uM", "column 'dose_a' is not a number in data row 5 "),
        ("inhibition", "n/a%", "column 'inhibition' is not a number in data row 5 "),
        ("dose_b", -0.5, "column 'dose_b' has negative doses in data row 5 "),
        ("drug_b", " ", "column 'drug_b' is empty in data row 5;"),
    ],
)
def test_bad_values_name_the_row(tmp_path: Path, capsys, column: str, value, message: str) -> None:
    # Old code: tracebacks (inf response, text doses) or block-level messages without rows.
    table = as_layout(wells_table(), "generic").astype({column: object})
    table.loc[4, column] = value
    path = tmp_path / "wells.csv"
    table.to_csv(path, index=False)
    status, lines = score(path, tmp_path / "out.csv", capsys)
    assert status == 2
    assert_one_error_line(lines, f"{path}: {message}")
    with pytest.raises(DoseResponseError, match=f"^wells table: {message}"):
        read_wells(table)


def test_non_finite_scores_are_never_handed_on(tmp_path: Path, capsys, monkeypatch) -> None:
    # Old code: a NaN score went into the table (and the CSV) without a word.
    def nan_at_first(effect_a, effect_b):
        expected = dose_response.hsa_expected(effect_a, effect_b)
        expected[0] = np.nan
        return expected

    monkeypatch.setattr(dose_response.scoring, "bliss_expected", nan_at_first)
    wells = read_wells(as_layout(wells_table(), "generic"))
    with pytest.raises(DoseResponseError, match="blocks 'b1' get non-finite \\['bliss'\\] scores"):
        score_doses(wells, models=("bliss", "hsa"))
    path = tmp_path / "wells.csv"
    as_layout(wells_table(), "generic").to_csv(path, index=False)
    status, lines = score(path, tmp_path / "out.csv", capsys)
    assert status == 2
    assert_one_error_line(lines, str(path), "non-finite")
    assert not (tmp_path / "out.csv").exists()


def test_failed_hill_fit_names_the_block(monkeypatch) -> None:
    # Old code: scipy's RuntimeError escaped as a traceback.
    def no_convergence(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found: max_nfev exceeded")

    monkeypatch.setattr(dose_response.reference, "curve_fit", no_convergence)
    with pytest.raises(DoseResponseError, match="^wells table: block 'b1': the single-drug Hill"):
        score_wells(as_layout(wells_table(), "generic"))


def _write(path: Path, content: bytes | pd.DataFrame) -> None:
    if isinstance(content, pd.DataFrame):
        content.to_csv(path, index=False)
    else:
        path.write_bytes(content)


GENERIC = as_layout(wells_table(), "generic")
ALMANAC = as_layout(wells_table(), "almanac")


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "empty"),
        (GENERIC.head(0).to_csv(index=False).encode(), "has a header but no wells"),
        (bytes(range(256)) * 8, ""),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", ""),
        (GENERIC.drop(columns="dose_b"), "generic layout, which also needs ['dose_b']"),
        (GENERIC.to_csv(index=False, sep="\t").encode(), "name it .tsv"),
        (GENERIC[GENERIC["dose_b"].isin([0.0, 0.5])], "single dose of 'B'"),
        (GENERIC[(GENERIC["dose_a"] == 0) | (GENERIC["dose_b"] == 0)], "no combination wells"),
        (ALMANAC[ALMANAC["treatment2id"].isna()], "no combination wells"),
        (ALMANAC.assign(treatment1dose=ALMANAC["treatment1dose"] * -1), "negative doses"),
    ],
    ids=[
        "empty-file",
        "header-only",
        "binary",
        "png",
        "missing-column",
        "tabs-in-csv",
        "one-dose",
        "no-combinations",
        "almanac-singles-only",
        "almanac-negative",
    ],
)
def test_malformed_tables_are_one_error_line(tmp_path: Path, capsys, content, phrase) -> None:
    # Old code: tracebacks for the empty file, header only, binary files and the NCI-ALMANAC
    # file without combinations; the other messages were already clear.
    path = tmp_path / "wells.csv"
    _write(path, content)
    before = path.read_bytes()
    status, lines = score(path, tmp_path / "out.csv", capsys)
    assert status == 2
    assert_one_error_line(lines, str(path), phrase)
    assert path.read_bytes() == before
    assert not (tmp_path / "out.csv").exists()


def test_a_folder_is_one_error_line(tmp_path: Path, capsys) -> None:
    # Old code: IsADirectoryError traceback.
    status, lines = score(tmp_path, tmp_path / "out.csv", capsys)
    assert status == 2
    assert_one_error_line(lines, str(tmp_path))


@pytest.mark.parametrize("layout", ["generic", "viability", "oneil", "synergyfinder", "almanac"])
def test_every_layout_scores_to_finite_values(tmp_path: Path, capsys, layout: str) -> None:
    path, out = tmp_path / "wells.csv", tmp_path / "out.csv"
    as_layout(wells_table(), layout).to_csv(path, index=False)
    status, lines = score(path, out, capsys)
    assert (status, lines) == (0, [])
    scores = pd.read_csv(out)
    assert len(scores) == 2
    assert np.isfinite(scores[["synergy", *SCORES]].to_numpy()).all()


def test_duplicated_conflicting_wells_are_averaged_replicates() -> None:
    table = as_layout(wells_table(), "generic")
    below, above = table["inhibition"] - 6, table["inhibition"] + 6
    doubled = pd.concat([table.assign(inhibition=below), table.assign(inhibition=above)])
    np.testing.assert_allclose(
        score_wells(doubled)[SCORES], score_wells(table)[SCORES], rtol=1e-4, atol=1e-6
    )


def test_input_columns_with_normalised_names_do_not_clash() -> None:
    # Old code: a stray 'value' column made the response a two-column frame (traceback).
    table = as_layout(wells_table(), "generic")
    expected = score_wells(table)
    with_extra = table.assign(value="note", drug_a_name=table["drug_a"])
    pd.testing.assert_frame_equal(score_wells(with_extra), expected)
    oneil = as_layout(wells_table(), "oneil").assign(drug_a="stray", dose_a=-1.0)
    pd.testing.assert_frame_equal(score_wells(oneil), expected)


def test_library_errors_are_user_errors() -> None:
    # Old code: DoseResponseError and the option errors were plain ValueErrors, which the
    # command line does not turn into one line.
    table = as_layout(wells_table(), "generic")
    with pytest.raises(DoseResponseError, match="^wells table: response must be one of") as error:
        read_wells(table, response="growth")
    assert isinstance(error.value, DataError)
    with pytest.raises(OptionError, match="score must be one of"):
        score_wells(table, score="synergy")
    with pytest.raises(OptionError, match="unknown models"):
        score_doses(read_wells(table), models=("bliss", "chou"))
    with pytest.raises(DoseResponseError, match="columns \\['dose_a'\\] are not numeric"):
        score_doses(read_wells(table).astype({"dose_a": str}))


# --- randomly corrupted copies ----------------------------------------------------------------

TOKENS = [
    "", " ", "abc", "-1", "0", "-0", "inf", "-inf", "nan", "NA", "1e308", "-1e308", "1e-320",
    "1e400", "1e6", "1001", "-1001", "999", "2,5", "5 uM", "True", '"', "é", "\x00", "b1", "A",
]  # fmt: skip


def _corrupt(rows: list[list[str]], rng: np.random.Generator) -> tuple[bytes, str]:
    """One random corruption of a CSV given as rows of cells (header first, possibly ragged);
    returns the bytes and a description for the failure message."""
    header, body = list(rows[0]), [list(r) for r in rows[1:]]
    kind = int(rng.integers(12))
    at_row, at_col = int(rng.integers(len(body))), int(rng.integers(len(header)))
    token = TOKENS[rng.integers(len(TOKENS))]
    sep = ","
    if kind == 0:
        body[at_row][at_col : at_col + 1] = [token]
    elif kind == 1:
        del body[at_row]
    elif kind == 2:  # the same well again with another response (the last column)
        body.insert(at_row, body[at_row][:-1] + [str(rng.uniform(-100, 200))])
    elif kind == 3:
        for r in [header, *body]:
            del r[at_col : at_col + 1]
    elif kind == 4:
        header[at_col] = token
    elif kind == 5:  # swap two columns, names and values
        other = int(rng.integers(len(header)))
        for r in [header, *body]:
            if max(at_col, other) < len(r):
                r[at_col], r[other] = r[other], r[at_col]
    elif kind == 6:
        body = body[: int(rng.integers(0, 3))]
    elif kind == 7:
        sep = ";" if rng.random() < 0.5 else "\t"
    elif kind in (8, 9):  # scale a numeric column by a power of ten
        scale = 10.0 ** int(rng.integers(-300, 300))
        for r in body:
            try:
                r[at_col] = repr(float(r[at_col]) * scale)
            except (ValueError, IndexError):
                pass
    else:
        rng.shuffle(body)
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep, lineterminator="\n").writerows([header, *body])
    data = buffer.getvalue().encode()
    if kind == 10:  # cut the file anywhere
        data = data[: int(rng.integers(len(data)))]
    elif kind == 11:  # splice in random bytes
        at = int(rng.integers(len(data)))
        data = data[:at] + rng.bytes(int(rng.integers(1, 16))) + data[at:]
    return data, f"corruption {kind} at row {at_row + 1}, column {at_col + 1}"


def _cells(data: bytes) -> list[list[str]]:
    """CSV rows of (possibly corrupted) bytes; none when even the csv module gives up."""
    try:
        return list(csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline="")))
    except csv.Error:
        return []


@pytest.mark.filterwarnings("ignore:NCI-ALMANAC.*belong to no combination block")
@pytest.mark.slow
def test_randomly_corrupted_wells_fail_cleanly_or_score_finitely(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(20240607)
    layouts = ["generic", "viability", "oneil", "synergyfinder", "almanac"]
    outcomes = {0: 0, 2: 0}
    for case in range(150):
        layout = layouts[case % len(layouts)]
        text = as_layout(wells_table(), layout).to_csv(index=False)
        rows = _cells(text.encode())
        data, what = b"", ""
        for _ in range(int(rng.integers(1, 4))):
            data, step = _corrupt(rows, rng)
            what += f"{step}; "
            rows = _cells(data)
            if len(rows) < 2 or not rows[0]:
                break
        path, out = tmp_path / f"case{case}.csv", tmp_path / f"case{case}_out.csv"
        path.write_bytes(data)
        context = f"case {case} ({layout}: {what}) {data[:300]!r}"
        try:
            status, lines = score(path, out, capsys)
        except Exception as err:  # a traceback on the command line
            pytest.fail(f"{context} raised {type(err).__name__}: {err}")
        assert path.read_bytes() == data, context
        assert status in outcomes, context
        outcomes[status] += 1
        if status == 0:
            scores = pd.read_csv(out)
            assert np.isfinite(scores[["synergy", *SCORES]].to_numpy(float)).all(), context
        else:
            assert len(lines) == 1 and lines[0].startswith("synergy-ppl score: error: "), (
                context,
                lines,
            )
            assert "Traceback" not in lines[0] and not out.exists(), context
    assert min(outcomes.values()) >= 20, outcomes  # both outcomes are exercised
