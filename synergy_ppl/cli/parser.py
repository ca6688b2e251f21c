"""The ``synergy-ppl`` options: argparse definitions only; values are checked by the library
(:mod:`synergy_ppl.settings` and the config objects), defaults shown from the config objects."""

from __future__ import annotations

import argparse

from ..active import ROUND_OPTIONS, SimulationConfig
from ..active.picture import MAX_LINES
from ..config import ModelConfig
from ..data import SPLIT_KINDS, check_column_map
from ..data.splits import MAX_VAL_FRACTION, MIN_VAL_ROWS, VAL_FRACTION
from ..errors import OptionError
from ..inference.svi import STOPPING_LOSSES
from ..model.families import FAMILIES
from ..model.guides import GUIDES
from ..model.likelihoods import LIKELIHOODS
from ..model.network import BAYESIAN_PARTS
from ..model.priors import PRIORS
from ..transfer import TRANSFERS
from . import commands


def _int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a comma-separated list of integers"
        ) from err


def _column_map(text: str) -> dict:
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(p) != 2 for p in pairs):
        raise argparse.ArgumentTypeError("takes key=column pairs, e.g. score=loewe")
    keys = [k.strip() for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"key(s) {twice} given more than once")
    try:
        return check_column_map({k.strip(): v.strip() for k, v in pairs})
    except OptionError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("columns: ")) from err


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        help="demo, oneil, almanac, drugcomb[:PATH], drugcombdb[:PATH], or a CSV/TSV/Parquet table",
    )
    group.add_argument("--data-dir", help="folder of the built-in screens ($SYNERGY_PPL_DATA)")
    group.add_argument(
        "--drugs", help="drug table (drug,smiles) of a table of your own or an aggregate's"
    )
    group.add_argument(
        "--cell-features",
        help="cell-line feature table (first column = name) of a table of your own or an "
        "aggregate; used with --cell-components K > 0",
    )
    group.add_argument(
        "--columns",
        type=_column_map,
        help="map a table's columns: drug_a=A,drug_b=B,score=S,... (an aggregate: --score)",
    )
    group.add_argument("--cell-line", help="keep only this cell line (comma-separate several)")
    group.add_argument("--split", choices=SPLIT_KINDS, help="how to hold out the test part")
    group.add_argument("--test-fold", type=int, help="test fold for --split fold")
    group.add_argument("--split-seed", type=int, help="seed of the split (not the model)")
    group.add_argument("--test-fraction", type=float)
    group.add_argument(
        "--val-fraction",
        type=float,
        help="share of the rest held out for early stopping and calibration (0: none; "
        f"default {VAL_FRACTION}, raised to {MIN_VAL_ROWS} rows, at most {MAX_VAL_FRACTION})",
    )
    group.add_argument(
        "--score",
        help="the score to fit: zip (default), bliss, loewe, hsa, s_mean, s_max for an "
        "aggregate; a column name for a plain table",
    )
    group.add_argument("--study", help="keep one study of a DrugComb export (e.g. ALMANAC)")
    _add_monotherapy_options(group, "single-agent responses: drug,cell_line,value (ri, ic50..)")


def _add_monotherapy_options(group, what: str) -> None:
    """``--monotherapy PATH`` and how to read its value column."""
    group.add_argument("--monotherapy", metavar="PATH", help=what)
    group.add_argument(
        "--monotherapy-column", metavar="COLUMN", help="its value column, where several could be"
    )
    group.add_argument(
        "--monotherapy-direction",
        choices=["higher", "lower"],
        help="a higher or a lower value = more active, where the column's name does not say",
    )


def _add_lab_options(parser: argparse.ArgumentParser) -> None:
    """What a lab can run in one batch (``recommend`` and each round of ``simulate``)."""
    group = parser.add_argument_group("lab rules on a batch")
    group.add_argument("--max-lines", type=int, help="at most this many cell lines per batch")
    group.add_argument("--max-drug-uses", type=int, help="at most this many triples per drug")
    group.add_argument("--available-drugs", help="table with a 'drug' column: drugs in stock")
    group.add_argument(
        "--costs", help="cost table: cell_line,cost (per test) or drug_a,drug_b,cell_line,cost"
    )
    group.add_argument("--budget", type=float, help="most total cost of one batch")


def _fit_defaults(name: str) -> str:
    """``fit``'s default of ``name`` for each family that sets one, as help text: "recover
    0.3, pair-mlp 0.2" (read from the families' ``defaults``, where they are set)."""
    shown = []
    for family, network in FAMILIES.items():
        if name in network.defaults and name not in ModelConfig(model=family).unread():
            value = network.defaults[name]
            text = ",".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}"
            shown.append(f"{family} {text}")
    return "fit's default: " + ", ".join(shown)


def _add_model_options(
    parser: argparse.ArgumentParser,
    title: str = "model and training",
    batch_flag: str = "--batch-size",
) -> None:
    """Model options; ``simulate`` names the SVI minibatch ``--fit-batch-size`` because its
    ``--batch-size`` is the number of pairs tested per round."""
    group = parser.add_argument_group(title)
    group.add_argument(
        "--model",
        choices=list(FAMILIES),
        help=f"model family (fit: {ModelConfig.model}; simulate's rounds: "
        f"{ROUND_OPTIONS['model']})",
    )
    group.add_argument(
        "--prior", choices=sorted(PRIORS), help=f"weight prior (default {ModelConfig.prior})"
    )
    group.add_argument("--prior-scale", type=float, help="scale of the normal/laplace prior")
    group.add_argument(
        "--likelihood",
        choices=list(LIKELIHOODS),
        help=f"noise model (default {ModelConfig.likelihood})",
    )
    group.add_argument(
        "--guide",
        choices=list(GUIDES),
        help="variational family (default: the prior's; svd for log-uniform, else mean-field)",
    )
    group.add_argument(
        "--bayesian", choices=BAYESIAN_PARTS, help="recover, pair-mlp: which layers are Bayesian"
    )
    group.add_argument(
        "--drug-layers", type=_int_list, help=f"drug MLP sizes ({_fit_defaults('drug_layers')})"
    )
    group.add_argument(
        "--merge-dim", type=int, help=f"bilinear merge width ({_fit_defaults('merge_dim')})"
    )
    group.add_argument(
        "--head-layers", type=_int_list, help=f"head hidden sizes ({_fit_defaults('head_layers')})"
    )
    group.add_argument(
        "--pair-layers", type=_int_list, help=f"trunk sizes ({_fit_defaults('pair_layers')})"
    )
    group.add_argument("--rank", type=int, help=f"number of factors ({_fit_defaults('rank')})")
    group.add_argument(
        "--learned-scales",
        action=argparse.BooleanOptionalAction,
        help="factorization with --n-bits: a learned prior scale per block of drug inputs",
    )
    group.add_argument(
        "--chemistry-scale",
        type=float,
        help=f"hierarchical: chemistry's weight vs identity ({_fit_defaults('chemistry_scale')})",
    )
    group.add_argument(
        "--dropout",
        type=float,
        help=f"training dropout of the trunk ({_fit_defaults('dropout')}; simulate's rounds "
        f"{ROUND_OPTIONS['dropout']:g})",
    )
    group.add_argument(
        "--drug-effects",
        type=float,
        help="prior SD (in score SDs) of latent per-drug effects; 0 = none; default: the "
        "family's (hierarchical: 0.3 on a screen of at most 24 lines, none on more)",
    )
    group.add_argument(
        "--pair-effects",
        type=float,
        help="prior SD of a latent effect per drug pair shared by all cell lines (several "
        "lines only); 0 = none (default)",
    )
    group.add_argument(
        "--noise-effects",
        type=float,
        help="prior SD of each line's and drug's log noise scale; 0 = one noise width "
        f"({_fit_defaults('noise_effects')})",
    )
    group.add_argument(
        "--n-bits",
        type=int,
        help=f"Morgan fingerprint bits (0: one-hot drugs only; {_fit_defaults('n_bits')})",
    )
    group.add_argument(
        "--cell-components",
        type=int,
        help="principal components of a cell-line table (0: one-hot lines; "
        f"{_fit_defaults('cell_components')})",
    )
    group.add_argument("--radius", type=int, help=f"Morgan radius (default {ModelConfig.radius})")
    group.add_argument("--epochs", type=int)
    group.add_argument("--min-steps", type=int, help="at least this many SVI steps (small data)")
    group.add_argument(batch_flag, type=int, help="SVI minibatch size")
    group.add_argument(
        "--lr",
        type=float,
        help=f"learning rate of the point layers ({_fit_defaults('lr')}; factorization has "
        "none, its rate is --guide-lr)",
    )
    group.add_argument(
        "--guide-lr", type=float, help=f"learning rate of the guide ({_fit_defaults('guide_lr')})"
    )
    group.add_argument(
        "--patience",
        type=int,
        help=f"early-stopping patience in epochs ({_fit_defaults('patience')})",
    )
    group.add_argument(
        "--stop-on",
        choices=list(STOPPING_LOSSES),
        help="validation loss that early stopping watches: the predictive's NLL (default) or "
        "the posterior median's RMSE",
    )
    group.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        help="after early stopping, train afresh on the training and validation rows for the "
        "optimizer steps of the epochs it kept (default: on)",
    )
    group.add_argument(
        "--calibrate",
        action=argparse.BooleanOptionalAction,
        help="scale the noise to the validation rows' likelihood (default: on)",
    )
    group.add_argument(
        "--members",
        type=int,
        help="variational fits from successive seeds whose mixture is the posterior "
        f"({_fit_defaults('members')})",
    )
    group.add_argument(
        "--weight-decay",
        type=float,
        help=f"AdamW decay of the point layers ({_fit_defaults('weight_decay')})",
    )
    group.add_argument(
        "--trunk-anchor",
        type=float,
        help="with --prior-from (recover, pair-mlp): precision of a prior tying the point "
        "layers to the pretrained values (L2-SP); 0 = none",
    )
    group.add_argument("--num-samples", type=int, help="posterior draws for prediction")
    group.add_argument("--seed", type=int, help="model seed")
    group.add_argument("--device", help="cpu (default) or cuda")


def _add_transfer_options(parser, when: str) -> None:
    parser.add_argument(
        "--transfer",
        choices=TRANSFERS,
        help=f"{when}the pretrained posterior as prior (default) or plain fine-tuning",
    )
    parser.add_argument("--widen", type=float, help=f"{when}widen the pretrained posterior (1)")


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (the usage is in ``--help``)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="synergy-ppl",
        description="Bayesian neural networks (Pyro) for drug-combination synergy.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit a BNN on a screen and write a run directory")
    fit.add_argument("--config", help="YAML/JSON file with 'data:' and 'model:' sections")
    _add_data_options(fit)
    _add_model_options(fit)
    fit.add_argument("--out", help="run directory (default runs/fit-<data>-<time>)")
    fit.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument(
        "--prior-from", help="fitted run to start from (its posterior as prior; pretraining)"
    )
    _add_transfer_options(fit, "with --prior-from: ")
    fit.set_defaults(func=commands.cmd_fit)

    predict = sub.add_parser("predict", help="predict new (drug A, drug B, cell line) rows")
    predict.add_argument("--run", required=True, help="run directory written by fit")
    predict.add_argument("--pairs", required=True, help="table with drug_a,drug_b,cell_line")
    predict.add_argument("--drugs", help="drug,smiles table for drugs the run has not seen")
    _add_monotherapy_options(predict, "single-agent responses over those the run saved")
    predict.add_argument("--num-samples", type=int, help="posterior draws (default: the run's)")
    predict.add_argument("--out", help="output CSV (default <run>/predictions.csv)")
    predict.add_argument("--overwrite", action="store_true")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.set_defaults(func=commands.cmd_predict)

    diag = sub.add_parser("diagnose", help="posterior diagnostics and a report of a fitted run")
    diag.add_argument("--run", required=True, help="run directory written by fit")
    diag.add_argument(
        "--part",
        choices=["test", "val", "train"],
        default="test",
        help="rows to diagnose (test; val rows are training rows of a refitted model)",
    )
    diag.add_argument("--num-samples", type=int, help="posterior draws (default: the run's)")
    diag.add_argument("--out", help="output folder (default <run>/diagnostics)")
    diag.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    diag.set_defaults(func=commands.cmd_diagnose)

    rec = sub.add_parser("recommend", help="rank untested candidates and write the next batch")
    rec.add_argument("--run", required=True, help="run directory written by fit")
    rec.add_argument(
        "--candidates", help="table of drug_a,drug_b,cell_line (default: all untested pairs)"
    )
    rec.add_argument("--drugs", help="drug,smiles table for candidate drugs the run has not seen")
    _add_monotherapy_options(rec, "single-agent responses over those the run saved")
    rec.add_argument("--acquisition", default="ucb", help="ucb (default), ei, q-ucb, ...")
    rec.add_argument("--batch-size", type=int, default=30, help="batch size Q (default 30)")
    rec.add_argument("--kappa", type=float, default=1.0, help="UCB exploration weight")
    rec.add_argument("--num-samples", type=int, help="joint posterior draws (default: the run's)")
    rec.add_argument("--seed", type=int, default=0, help="seed of the draws and tie-breaking")
    rec.add_argument("--out", help="output CSV (default <run>/recommendations.csv)")
    rec.add_argument("--overwrite", action="store_true")
    rec.add_argument(
        "--report-lines",
        type=int,
        default=MAX_LINES,
        help="cell lines drawn beside the CSV: drug x drug pictures and an HTML page (0: none; "
        f"default {MAX_LINES})",
    )
    _add_lab_options(rec)
    rec.set_defaults(func=commands.cmd_recommend)

    simu = sub.add_parser("simulate", help="in-silico sequential model optimisation (RECOVER)")
    _add_data_options(simu)
    loop = simu.add_argument_group("simulation")
    sim = SimulationConfig()
    loop.add_argument(
        "--acquisition",
        help=f"strategies, comma-separated, e.g. ucb,q-ucb,random ({sim.strategies[0]})",
    )
    loop.add_argument("--rounds", type=int, help=f"rounds after the first ({sim.rounds})")
    loop.add_argument("--batch-size", type=int, help=f"pairs per round ({sim.pairs_per_round})")
    loop.add_argument(
        "--initial",
        type=int,
        help=f"pairs revealed at random first ({sim.initial}; 0 with --pretrain: the "
        "pretrained model chooses)",
    )
    loop.add_argument("--seeds", type=int, help=f"repeats: initial draw, selection ({sim.seeds})")
    loop.add_argument("--first-seed", type=int, help=f"first repeat's seed ({sim.first_seed})")
    loop.add_argument("--kappa", type=float, help=f"UCB exploration weight ({sim.kappa})")
    loop.add_argument(
        "--top-fraction", type=float, help=f"the top set to find ({sim.top_fraction})"
    )
    loop.add_argument("--pretrain", help="none (default), other-cell-lines, or a fitted run / .pt")
    _add_transfer_options(loop, "with --pretrain: ")
    loop.add_argument(
        "--warm-start",
        action="store_true",
        default=None,
        help="each round starts from the previous fit",
    )
    loop.add_argument(
        "--pretrain-epochs", type=int, help=f"epochs of the pretraining ({sim.pretrain_epochs})"
    )
    loop.add_argument(
        "--pretrain-batch-size",
        type=int,
        help=f"SVI minibatch of the pretraining ({sim.pretrain_batch_size})",
    )
    loop.add_argument(
        "--pretrain-dropout",
        type=float,
        help="trunk dropout of the pretraining (default: fit's for the family)",
    )
    _add_lab_options(simu)
    _add_model_options(simu, "model fitted each round", batch_flag="--fit-batch-size")
    simu.add_argument("--out", help="output folder (default runs/simulate-<data>-<time>)")
    simu.add_argument("--overwrite", action="store_true", help="start an existing --out afresh")
    simu.add_argument("--quiet", action="store_true", help="no progress bar")
    simu.set_defaults(func=commands.cmd_simulate)

    score = sub.add_parser("score", help="dose-response wells -> synergy scores per block")
    score.add_argument("--wells", required=True, help="long table of wells (CSV/TSV)")
    score.add_argument(
        "--response", choices=["viability", "inhibition"], help="what the wells measure"
    )
    score.add_argument(
        "--score",
        default="bliss_max",
        choices=[f"{m}_{s}" for m in ("bliss", "hsa", "loewe", "zip") for s in ("mean", "max")],
        help="which score becomes the 'synergy' column (default bliss_max, as RECOVER)",
    )
    score.add_argument("--out", help="output CSV (default <wells>_scores.csv)")
    score.add_argument("--overwrite", action="store_true")
    score.set_defaults(func=commands.cmd_score)

    sweep = sub.add_parser("sweep", help="run fit or simulate over a search space (Ray Tune)")
    sweep.add_argument("config", help="sweep YAML: command, metric, fixed, search")
    sweep.add_argument("--address", help="Ray cluster: auto or ray://HOST:PORT (default local)")
    sweep.add_argument("--cpus-per-trial", type=int, default=1, help="CPUs (torch threads)")
    sweep.add_argument("--gpus-per-trial", type=float, default=0, help="GPUs per trial")
    sweep.add_argument("--max-concurrent", type=int, help="at most K trials at once")
    sweep.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default all)")
    sweep.add_argument("--no-ray", action="store_true", help="run the trials one by one here")
    sweep.add_argument("--out", help="sweep folder (default runs/sweep-<config name>)")
    sweep.add_argument(
        "--overwrite",
        action="store_true",
        help="start an existing --out afresh (removes only what a sweep wrote there)",
    )
    sweep.set_defaults(func=commands.cmd_sweep)

    dl = sub.add_parser("download", help="download a built-in screen from its public home")
    dl.add_argument("name", choices=["oneil", "almanac", "drugcomb", "drugcombdb"])
    dl.add_argument("--data-dir", help="target folder (default $SYNERGY_PPL_DATA or cache)")
    dl.set_defaults(func=commands.cmd_download)
    return parser
