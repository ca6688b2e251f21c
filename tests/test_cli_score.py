"""`synergy-ppl score` writes a combination table that `fit` reads as it is."""

import pandas as pd
import pytest

from synergy_ppl.cli import main
from synergy_ppl.data import load_screen


@pytest.mark.slow
def test_score_output_is_a_fit_input(tmp_path, shared_data, capsys):
    out = tmp_path / "scores.csv"
    wells = shared_data / "dose_response" / "almanac_wells.csv"
    assert main(["score", "--wells", str(wells), "--score", "bliss_max", "--out", str(out)]) == 0
    assert "blocks scored" in capsys.readouterr().out
    scores = pd.read_csv(out)
    assert list(scores.columns[:4]) == ["drug_a", "drug_b", "cell_line", "synergy"]
    assert (scores["synergy"] == scores["bliss_max"]).all()

    drugs = sorted(set(scores["drug_a"]) | set(scores["drug_b"]))
    pd.DataFrame({"drug": drugs, "smiles": "CCO"}).to_csv(tmp_path / "drugs.csv", index=False)
    screen = load_screen(str(out), drugs=tmp_path / "drugs.csv")
    assert len(screen.table) == scores.groupby(["drug_a", "drug_b", "cell_line"]).ngroups

    assert main(["score", "--wells", str(wells), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
