"""Issue 33: recommend's batch as a picture per cell line and an offline HTML page."""

import html
import io

import numpy as np
import pytest
from matplotlib.image import imread
from matplotlib.patches import Circle

import synergy_ppl as sp
from synergy_ppl.active.picture import (
    LABELLED_DRUGS,
    MEASURED_GID,
    PICK_GID,
    RANK_GID,
    SIDE_INCHES,
    choose_lines,
    cluster_order,
    file_stem,
    line_figure,
    line_matrices,
    line_picks,
    measured_mask,
    write_recommendation_report,
)
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataError, make_demo_screen
from synergy_ppl.errors import OutputError
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.outputs import owned


@pytest.fixture(scope="module")
def fitted():
    screen = make_demo_screen()
    bnn = SynergyBNN.from_config(ModelConfig(epochs=2, rank=4, num_samples=8)).fit(
        screen, progress=False
    )
    batch = sp.recommend(bnn, screen.table, strategy="ucb", batch_size=8)
    return screen, bnn, batch


def drawn(fig):
    """(circles, rank texts, measured dots) that ``line_figure`` drew."""
    ax = fig.axes[0]
    circles = [p for p in ax.patches if isinstance(p, Circle) and p.get_gid() == PICK_GID]
    ranks = [t.get_text() for t in ax.texts if t.get_gid() == RANK_GID]
    dots = [c for c in ax.collections if c.get_gid() == MEASURED_GID]
    return circles, ranks, sum(len(c.get_offsets()) for c in dots)


def test_figure_circles_every_pick_and_dots_every_measured_pair(fitted):
    screen, bnn, batch = fitted
    drugs = bnn.features.drugs
    for line in choose_lines(batch):
        mean, sd = line_matrices(bnn, line, drugs)
        measured = measured_mask(screen.table, drugs, line)
        picks = line_picks(batch, drugs, line)
        circles, ranks, dots = drawn(line_figure(mean, sd, drugs, measured, picks, line))
        in_line = batch[batch["cell_line"] == line]
        assert len(circles) == len(picks) == len(in_line)
        assert sorted(ranks) == sorted(str(r) for r in in_line["rank"])
        rows = screen.table[screen.table["cell_line"] == line]
        pairs = {frozenset(p) for p in zip(rows["drug_a"], rows["drug_b"], strict=True)}
        assert dots == len({p for p in pairs if len(p) == 2}) == np.triu(measured).sum() > 0


def test_matrices_are_symmetric_and_match_the_batch_at_the_picks(fitted):
    _, bnn, batch = fitted
    drugs = bnn.features.drugs
    line = choose_lines(batch)[0]
    mean, sd = line_matrices(bnn, line, drugs)  # recommend's draws: default num_samples, seed 0
    assert mean.shape == sd.shape == (len(drugs), len(drugs))
    assert np.isnan(np.diag(mean)).all() and np.isnan(np.diag(sd)).all()
    np.testing.assert_array_equal(mean, mean.T)
    np.testing.assert_array_equal(sd, sd.T)
    assert np.nanmin(sd) > 0
    rows = batch[batch["cell_line"] == line]
    for (i, j, _), (_, row) in zip(line_picks(batch, drugs, line), rows.iterrows(), strict=True):
        assert mean[i, j] == pytest.approx(row["mean"], rel=1e-4, abs=1e-4)
        assert sd[i, j] == pytest.approx(row["std"], rel=1e-3, abs=1e-4)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17])
def test_cluster_order_is_a_permutation(n):
    rng = np.random.default_rng(n)
    mean = rng.normal(size=(n, n))
    mean = mean + mean.T
    np.fill_diagonal(mean, np.nan)
    order = cluster_order(mean)
    assert sorted(order) == list(range(n))
    if n < 3:
        assert list(order) == list(range(n))


def test_cluster_order_groups_alike_drugs():
    groups = np.repeat([0, 1, 0, 1, 0, 1], 1)  # alternating: clustering must regroup them
    mean = np.where(groups[:, None] == groups[None, :], 5.0, -5.0)
    np.fill_diagonal(mean, np.nan)
    order = cluster_order(mean)
    assert len(set(groups[order[:3]])) == 1 and len(set(groups[order[3:]])) == 1


def test_two_hundred_drugs_render_at_a_bounded_size():
    n, rng = 200, np.random.default_rng(0)
    z = rng.normal(size=(n, 3))
    mean = z @ z.T
    sd = np.abs(rng.normal(1.0, 0.3, (n, n)))
    sd = (sd + sd.T) / 2
    for m in (mean, sd):
        np.fill_diagonal(m, np.nan)
    measured = np.triu(rng.random((n, n)) < 0.1, 1)
    measured |= measured.T
    picks = [(k, n - 1 - k, k + 1) for k in range(30)]
    fig = line_figure(mean, sd, [f"drug{k:03d}" for k in range(n)], measured, picks, "big")
    width, height = fig.get_size_inches()
    assert width <= SIDE_INCHES[1] + 3 and height <= SIDE_INCHES[1] + 1
    fig.savefig(io.BytesIO(), format="png", dpi=100)
    ax = fig.axes[0]
    assert len(ax.get_xticks()) <= LABELLED_DRUGS and "one in 4 of 200 labelled" in ax.get_xlabel()
    circles, ranks, dots = drawn(fig)
    assert len(circles) == len(ranks) == 30 and dots == np.triu(measured).sum()


def test_line_figure_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="must all be"):
        line_figure(np.zeros((3, 3)), np.zeros((3, 3)), ["a", "b"], np.zeros((3, 3), bool), [])


def test_report_writes_a_png_per_line_and_an_offline_page(fitted, tmp_path):
    screen, bnn, batch = fitted
    batch = batch.copy()
    batch.loc[0, "why"] = '<script>alert("x")</script> & a <b>bold</b> claim'
    settings = {"strategy": "ucb", "batch size": len(batch)}
    paths = write_recommendation_report(tmp_path, bnn, screen.table, batch, settings=settings)
    lines = choose_lines(batch)
    assert [p.name for p in paths] == [
        *(f"recommendations_{line}.png" for line in lines),
        "recommendations.html",
    ]
    for path in paths[:-1]:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width = imread(path).shape[:2]
        assert 300 < height < 2000 and 300 < width < 2000
    page = paths[-1].read_text()
    for why in batch["why"]:
        assert html.escape(why) in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("data:image/png;base64,") == len(lines)
    assert all(p.name in page for p in paths[:-1])
    assert "http://" not in page and "https://" not in page
    assert "strategy: <b>ucb</b>" in page
    assert {p.name for p in paths} <= owned(tmp_path)  # in the manifest


def test_report_draws_the_lines_asked_and_stays_in_its_folder(fitted, tmp_path):
    screen, bnn, batch = fitted
    line = bnn.features.cell_lines[0]
    out = tmp_path / "out"
    paths = write_recommendation_report(out, bnn, screen.table, batch, [line], stem="next")
    assert [p.name for p in paths] == [f"next_{line}.png", "next.html"]
    assert all(p.parent == out for p in paths)
    with pytest.raises(DataError, match="no-such-line"):
        write_recommendation_report(out, bnn, screen.table, batch, ["no-such-line"], stem="x")


def test_file_names_from_line_names_are_safe_and_unique():
    taken: set[str] = set()
    names = [file_stem(line, taken) for line in ["../etc/x", "A/B", "A B", "a b", "", ".."]]
    assert names == ["etc-x", "A-B", "A-B-2", "a-b-3", "line", "line-2"]
    assert not any("/" in n or n.startswith(".") for n in names)


def test_report_never_replaces_a_users_file(fitted, tmp_path):
    screen, bnn, batch = fitted
    (tmp_path / "recommendations.html").write_text("mine")
    with pytest.raises(OutputError):
        write_recommendation_report(tmp_path, bnn, screen.table, batch, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["recommendations.html"]  # nothing drawn
    assert (tmp_path / "recommendations.html").read_text() == "mine"


def test_report_replaces_its_own_files_only_with_overwrite(fitted, tmp_path):
    screen, bnn, batch = fitted
    lines = choose_lines(batch)[:1]
    first = write_recommendation_report(tmp_path, bnn, screen.table, batch, lines)
    with pytest.raises(OutputError, match="pass overwrite"):
        write_recommendation_report(tmp_path, bnn, screen.table, batch, lines)
    again = write_recommendation_report(tmp_path, bnn, screen.table, batch, lines, overwrite=True)
    assert again == first


def test_choose_lines_takes_the_lines_with_most_picks(fitted):
    _, _, batch = fitted
    counts = batch["cell_line"].value_counts()
    chosen = choose_lines(batch, max_lines=2)
    assert len(chosen) == min(2, len(counts))
    assert counts[chosen[0]] == counts.max()


def test_report_takes_a_bare_batch_and_no_measured_rows(fitted, tmp_path):
    """simulate's rounds have no ``why`` or ranks, and a first round nothing measured."""
    screen, bnn, batch = fitted
    bare = batch[["drug_a", "drug_b", "cell_line"]]
    paths = write_recommendation_report(tmp_path, bnn, screen.table.iloc[:0], bare)
    assert len(paths) == len(choose_lines(batch)) + 1
    assert "<th>why</th>" not in paths[-1].read_text()
    with pytest.raises(DataError, match="measured: missing column"):
        write_recommendation_report(tmp_path / "x", bnn, screen.table[["drug_a"]], bare)


def test_report_draws_only_the_drugs_asked_plus_the_picks(fitted, tmp_path, monkeypatch):
    screen, bnn, batch = fitted
    line = choose_lines(batch)[0]
    seen = []
    monkeypatch.setattr(
        "synergy_ppl.active.picture.line_matrices",
        lambda bnn, line, names, *args: seen.append(names) or line_matrices(bnn, line, names),
    )
    write_recommendation_report(tmp_path, bnn, screen.table, batch, [line], drugs=["D00"])
    picked = batch[batch["cell_line"] == line]
    assert set(seen[0]) == {"D00", *picked["drug_a"], *picked["drug_b"]}
