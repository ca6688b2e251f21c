"""The ``synergy-ppl`` command line: parse options, call the library, say where results went."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .active import SimulationConfig, check_strategy
from .data import SPLIT_KINDS, check_column_map, download, read_pairs, read_smiles
from .data.features import encode_pairs
from .errors import OptionError, UserError
from .model.guides import GUIDES
from .model.likelihoods import LIKELIHOODS
from .model.network import BAYESIAN_PARTS
from .model.priors import PRIORS
from .options import check_range, read_yaml
from .outputs import check_file, prepare_file
from .settings import Settings, option_names, resolve
from .transfer import TRANSFERS

METRIC_COLUMNS = ("pearson", "spearman", "rmse", "r2", "nll", "coverage_50", "coverage_90")


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
        raise argparse.ArgumentTypeError(str(err).removeprefix("--columns: ")) from err


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--data", help="demo, oneil, almanac, or a CSV/TSV/Parquet table")
    group.add_argument("--data-dir", help="folder of the built-in screens ($SYNERGY_PPL_DATA)")
    group.add_argument("--drugs", help="drug table with columns drug,smiles (user tables)")
    group.add_argument("--cell-features", help="cell-line feature table (first column = name)")
    group.add_argument(
        "--columns", type=_column_map, help="map table columns: drug_a=A,drug_b=B,score=S,..."
    )
    group.add_argument("--cell-line", help="keep only this cell line (comma-separate several)")
    group.add_argument("--split", choices=SPLIT_KINDS, help="how to hold out the test part")
    group.add_argument("--test-fold", type=int, help="test fold for --split fold")
    group.add_argument("--split-seed", type=int, help="seed of the split (not the model)")
    group.add_argument("--test-fraction", type=float)
    group.add_argument("--val-fraction", type=float)


def _add_model_options(
    parser: argparse.ArgumentParser,
    title: str = "model and training",
    batch_flag: str = "--batch-size",
) -> None:
    """Model options; ``simulate`` names the SVI minibatch ``--fit-batch-size`` because its
    ``--batch-size`` is the number of pairs tested per round."""
    group = parser.add_argument_group(title)
    group.add_argument("--prior", choices=sorted(PRIORS), help="weight prior (default normal)")
    group.add_argument("--prior-scale", type=float, help="scale of the normal/laplace prior")
    group.add_argument("--likelihood", choices=list(LIKELIHOODS), help="noise model (normal)")
    group.add_argument(
        "--guide",
        choices=list(GUIDES),
        help="variational family (default: the prior's; svd for log-uniform, else mean-field)",
    )
    group.add_argument("--bayesian", choices=BAYESIAN_PARTS, help="which layers are Bayesian")
    group.add_argument("--drug-layers", type=_int_list, help="drug MLP sizes, e.g. 256,64")
    group.add_argument("--merge-dim", type=int)
    group.add_argument("--head-layers", type=_int_list, help="head hidden sizes, e.g. 64")
    group.add_argument("--dropout", type=float, help="training dropout of the trunk (0.3)")
    group.add_argument(
        "--drug-effects",
        type=float,
        help="prior SD (in score SDs) of latent per-drug effects; 0 = none (fit's default)",
    )
    group.add_argument(
        "--pair-effects",
        type=float,
        help="prior SD of a latent effect per drug pair shared by all cell lines (several "
        "lines only); 0 = none (default)",
    )
    group.add_argument("--n-bits", type=int, help="Morgan fingerprint bits (default 1024)")
    group.add_argument("--radius", type=int, help="Morgan radius (default 2)")
    group.add_argument("--epochs", type=int)
    group.add_argument("--min-steps", type=int, help="at least this many SVI steps (small data)")
    group.add_argument(batch_flag, type=int, help="SVI minibatch size")
    group.add_argument("--lr", type=float, help="learning rate of the point layers (1e-3)")
    group.add_argument("--guide-lr", type=float, help="learning rate of the guide (1e-2)")
    group.add_argument("--patience", type=int, help="early-stopping patience in epochs")
    group.add_argument("--weight-decay", type=float, help="AdamW decay of the point layers")
    group.add_argument(
        "--trunk-anchor",
        type=float,
        help="from a pretrained model: precision of a prior tying the point layers to its "
        "values (L2-SP); 0 = none",
    )
    group.add_argument("--num-samples", type=int, help="posterior draws for prediction")
    group.add_argument("--seed", type=int, help="model seed")
    group.add_argument("--device", help="cpu (default) or cuda")


def _read_config_file(path: Path) -> dict:
    """The ``data:`` and ``model:`` sections of a YAML/JSON config file."""
    values = read_yaml(path) or {}
    if not isinstance(values, dict) or set(values) - {"data", "model"}:
        raise OptionError(f"{path}: a config file has the sections 'data:' and 'model:' only.")
    for section in ("data", "model"):
        if not isinstance(values.get(section) or {}, dict):
            raise OptionError(f"{path}: '{section}:' must be a mapping of options.")
    return values


def _add_transfer_options(parser, when: str) -> None:
    parser.add_argument(
        "--transfer",
        choices=TRANSFERS,
        help=f"{when}the pretrained posterior as prior (default) or plain fine-tuning",
    )
    parser.add_argument("--widen", type=float, help=f"{when}widen the pretrained posterior (1)")


def _settings(command: str, args: argparse.Namespace) -> Settings:
    """The run settings of the parsed options: defaults, the --config file, then the options
    given on the command line."""
    given = {name: getattr(args, name, None) for name in option_names(command)}
    config = getattr(args, "config", None)
    sections = _read_config_file(Path(config)) if config else None
    return resolve(command, given, sections, source=config or "options")


def _check_at_least(flag: str, value: int | None, low: int) -> None:
    if value is not None and value < low:
        raise OptionError(f"{flag} must be >= {low}, not {value}.")


def _print_metrics(metrics: dict) -> None:
    print(f"{'part':<6}" + "".join(f"{c:>12}" for c in METRIC_COLUMNS))
    for part in ("train", "val", "test"):
        if part in metrics:
            print(f"{part:<6}" + "".join(f"{metrics[part][c]:>12.3f}" for c in METRIC_COLUMNS))


def cmd_fit(args: argparse.Namespace) -> int:
    from .runs import fit_run

    settings = _settings("fit", args)
    settings.model.check_device()
    run_dir, metrics = fit_run(
        settings.data,
        settings.model,
        args.out,
        overwrite=args.overwrite,
        progress=not args.quiet,
        prior_from=settings.prior_from,
        transfer=settings.transfer,
    )
    print(
        f"fitted {settings.data.data} in {metrics['fit_seconds']:.1f} s "
        f"({metrics['epochs_run']} epochs, best {metrics['best_epoch']})"
    )
    _print_metrics(metrics)
    print(f"run written to {run_dir}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .runs import load_fit

    _check_at_least("--num-samples", args.num_samples, 2)
    bnn, config = load_fit(args.run)
    pairs = read_pairs(args.pairs)
    if args.drugs:
        bnn = bnn.with_features(bnn.features.with_new_drugs(read_smiles(args.drugs)))
    encode_pairs(bnn.features, pairs, str(args.pairs))  # names unknown drugs before any work
    out = Path(args.out) if args.out else Path(args.run) / "predictions.csv"
    check_file(out, args.overwrite)
    predictions = bnn.predict(pairs, args.num_samples)
    predictions.to_csv(prepare_file(out, args.overwrite), index=False)
    print(f"{len(predictions)} predictions written to {out}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from .active import recommend
    from .runs import load_fit, read_screen

    check_strategy(args.acquisition)
    _check_at_least("--batch-size", args.batch_size, 1)
    _check_at_least("--num-samples", args.num_samples, 2)
    _check_at_least("--seed", args.seed, 0)
    check_range("--kappa", args.kappa, 0)
    bnn, _ = load_fit(args.run)
    candidates = read_pairs(args.candidates) if args.candidates else None
    if args.drugs:
        bnn = bnn.with_features(bnn.features.with_new_drugs(read_smiles(args.drugs)))
    out = Path(args.out) if args.out else Path(args.run) / "recommendations.csv"
    check_file(out, args.overwrite)
    batch = recommend(
        bnn,
        read_screen(args.run),
        candidates,
        args.acquisition,
        args.batch_size,
        args.kappa,
        args.num_samples,
        args.seed,
    )
    batch.to_csv(prepare_file(out, args.overwrite), index=False)
    print(batch.head(10).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"{len(batch)} recommendations ({args.acquisition}) written to {out}")
    return 0


SIMULATION_COLUMNS = (
    ("recall_mean", "recall"),
    ("recall_sd", "sd"),
    ("tested_to_50", "n@50%"),
    ("tested_to_80", "n@80%"),
    ("median_seconds_per_round", "s/round"),
)


def cmd_simulate(args: argparse.Namespace) -> int:
    import time

    from .active import simulate

    settings = _settings("simulate", args)
    settings.model.check_device()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or f"runs/simulate-{Path(settings.data.data).stem}-{stamp}")
    summary = simulate(
        settings.data,
        settings.simulation,
        settings.model,
        out,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    first = next(iter(summary.values()))
    print(
        f"after {first['tested']} tests (random expects {first['random']:.0%} of the top set, "
        f"the oracle {first['oracle']:.0%}):"
    )
    print(f"{'strategy':<16}" + "".join(f"{label:>10}" for _, label in SIMULATION_COLUMNS))
    for name, entry in summary.items():
        cells = [entry[key] for key, _ in SIMULATION_COLUMNS]
        print(f"{name:<16}" + "".join(f"{'-' if v is None else f'{v:.2f}':>10}" for v in cells))
    print(f"results written to {out} (results.csv, results.json, recall.png)")
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from .diagnostics import diagnose

    report = diagnose(args.run, args.out, args.part, args.num_samples, args.overwrite)
    print(f"diagnostics of the {args.part} part written to {report.parent}")
    print(f"open {report}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from .dose_response import score_wells

    out = (
        Path(args.out)
        if args.out
        else Path(args.wells).with_name(Path(args.wells).stem + "_scores.csv")
    )
    check_file(out, args.overwrite)
    scores = score_wells(args.wells, response=args.response, score=args.score)
    scores.to_csv(prepare_file(out, args.overwrite), index=False)
    print(f"{len(scores)} blocks scored ('synergy' = {args.score}); table written to {out}")
    print(f"fit it with: synergy-ppl fit --data {out} --drugs DRUGS.csv")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import load_sweep_config, run_sweep, summary_lines

    config = load_sweep_config(args.config)
    out = Path(args.out or f"runs/sweep-{Path(args.config).stem}")
    result = run_sweep(
        config,
        out,
        use_ray=False if args.no_ray else (True if args.address else None),
        address=args.address,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        num_cpus=args.num_cpus,
        overwrite=args.overwrite,
    )
    print("\n".join(summary_lines(result, config)))
    return 1 if result.counts["failed"] else 0


def cmd_download(args: argparse.Namespace) -> int:
    root = download(args.name, args.data_dir)
    print(f"{args.name} is in {root}")
    return 0


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
    fit.set_defaults(func=cmd_fit)

    predict = sub.add_parser("predict", help="predict new (drug A, drug B, cell line) rows")
    predict.add_argument("--run", required=True, help="run directory written by fit")
    predict.add_argument("--pairs", required=True, help="table with drug_a,drug_b,cell_line")
    predict.add_argument("--drugs", help="drug,smiles table for drugs the run has not seen")
    predict.add_argument("--num-samples", type=int, help="posterior draws (default: the run's)")
    predict.add_argument("--out", help="output CSV (default <run>/predictions.csv)")
    predict.add_argument("--overwrite", action="store_true")
    predict.set_defaults(func=cmd_predict)

    diag = sub.add_parser("diagnose", help="posterior diagnostics and a report of a fitted run")
    diag.add_argument("--run", required=True, help="run directory written by fit")
    diag.add_argument("--part", choices=["test", "val", "train"], default="test")
    diag.add_argument("--num-samples", type=int, help="posterior draws (default: the run's)")
    diag.add_argument("--out", help="output folder (default <run>/diagnostics)")
    diag.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    diag.set_defaults(func=cmd_diagnose)

    rec = sub.add_parser("recommend", help="rank untested candidates and write the next batch")
    rec.add_argument("--run", required=True, help="run directory written by fit")
    rec.add_argument(
        "--candidates", help="table of drug_a,drug_b,cell_line (default: all untested pairs)"
    )
    rec.add_argument("--drugs", help="drug,smiles table for candidate drugs the run has not seen")
    rec.add_argument("--acquisition", default="ucb", help="ucb (default), ei, q-ucb, ...")
    rec.add_argument("--batch-size", type=int, default=30, help="batch size Q (default 30)")
    rec.add_argument("--kappa", type=float, default=1.0, help="UCB exploration weight")
    rec.add_argument("--num-samples", type=int, help="joint posterior draws (default: the run's)")
    rec.add_argument("--seed", type=int, default=0, help="seed of the draws and tie-breaking")
    rec.add_argument("--out", help="output CSV (default <run>/recommendations.csv)")
    rec.add_argument("--overwrite", action="store_true")
    rec.set_defaults(func=cmd_recommend)

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
        help=f"trunk dropout of the pretraining (fit's {sim.pretrain_dropout})",
    )
    _add_model_options(simu, "model fitted each round", batch_flag="--fit-batch-size")
    simu.add_argument("--out", help="output folder (default runs/simulate-<data>-<time>)")
    simu.add_argument("--overwrite", action="store_true", help="start an existing --out afresh")
    simu.add_argument("--quiet", action="store_true", help="no progress bar")
    simu.set_defaults(func=cmd_simulate)

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
    score.set_defaults(func=cmd_score)

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
    sweep.set_defaults(func=cmd_sweep)

    dl = sub.add_parser("download", help="download a built-in screen from its public home")
    dl.add_argument("name", choices=["oneil", "almanac"])
    dl.add_argument("--data-dir", help="target folder (default $SYNERGY_PPL_DATA or cache)")
    dl.set_defaults(func=cmd_download)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input (a :class:`UserError`) is one line on stderr and exit 2,
    and warnings are one line each."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        try:
            status = args.func(args)
        except UserError as err:  # the error says it all; warnings on the way are dropped
            print(f"synergy-ppl {args.command}: error: {_one_line(err)}", file=sys.stderr)
            return 2
    for warning in caught:
        print(f"synergy-ppl {args.command}: warning: {_one_line(warning.message)}", file=sys.stderr)
    return status


def _one_line(message) -> str:
    return " ".join(str(message).split())


if __name__ == "__main__":
    sys.exit(main())
