"""The ``synergy-ppl`` commands: each calls the library with the parsed options and prints
what it did and where the results went."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..data import SingleAgentTable, download, single_agent_table
from ..settings import Settings, option_names, read_config_file, resolve

METRIC_COLUMNS = ("pearson", "spearman", "rmse", "r2", "nll", "coverage_50", "coverage_90")
SIMULATION_COLUMNS = (
    ("recall_mean", "recall"),
    ("recall_sd", "sd"),
    ("tested_to_50", "n@50%"),
    ("tested_to_80", "n@80%"),
    ("median_seconds_per_round", "s/round"),
)
COST_COLUMNS = (("cost_mean", "cost"), ("recall_per_cost", "recall/cost"))
"""Added to the table when the lab's rules price the tests."""


def _settings(command: str, args: argparse.Namespace) -> Settings:
    """The run settings of the parsed options: defaults, the --config file, then the options
    given on the command line."""
    given = {name: getattr(args, name, None) for name in option_names(command)}
    config = getattr(args, "config", None)
    sections = read_config_file(config) if config else None
    return resolve(command, given, sections, source=config or "options")


def _monotherapy(args: argparse.Namespace) -> SingleAgentTable | None:
    """The single-agent table of ``--monotherapy``, ``--monotherapy-column`` and
    ``--monotherapy-direction`` (``predict`` and ``recommend``)."""
    return single_agent_table(args.monotherapy, args.monotherapy_column, args.monotherapy_direction)


def _print_metrics(metrics: dict) -> None:
    print(f"{'part':<6}" + "".join(f"{c:>12}" for c in METRIC_COLUMNS))
    for part in ("train", "val", "test"):
        if part in metrics:
            print(f"{part:<6}" + "".join(f"{metrics[part][c]:>12.3f}" for c in METRIC_COLUMNS))


def _print_data_summary(data: dict) -> None:
    """One line on what loading chose and dropped, when it chose or dropped anything."""
    parts = []
    if "score_column" in data:
        parts.append(f"score column '{data['score_column']}'")
    dropped = data.get("dropped_rows") or {}
    if dropped:
        parts.append("dropped " + ", ".join(f"{n} {why}" for why, n in dropped.items()))
    if data.get("drug_names_cleaned"):
        parts.append(f"{data['drug_names_cleaned']} drug name(s) matched after clean-up")
    single = data.get("monotherapy")
    if single:
        parts.append(
            f"single-agent '{single['column']}' ({single['direction']} = more active) for "
            f"{single['entries']} of {single['of_entries']} drug x line entries"
        )
    if parts:
        print(f"{data['triples']} triples from {data['rows_read']} rows: " + "; ".join(parts))


def cmd_fit(args: argparse.Namespace) -> int:
    from ..runs import fit_run

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
    refit, members = metrics["refit_epochs"], metrics["members"]
    each = f", {members} members from successive seeds" if members > 1 else ""
    print(
        f"fitted {settings.data.data} in {metrics['fit_seconds']:.1f} s "
        f"({metrics['epochs_run']} epochs, best {metrics['best_epoch']}"
        + (
            f"; then {refit} on the training and validation rows{each}; val = before the refit)"
            if refit
            else f"{each})"
        )
    )
    _print_data_summary(metrics["data"])
    _print_metrics(metrics)
    print(f"run written to {run_dir}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..runs import predict_run

    predictions, out = predict_run(
        args.run,
        args.pairs,
        drugs=args.drugs,
        monotherapy=_monotherapy(args),
        num_samples=args.num_samples,
        out=args.out,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(f"{len(predictions)} predictions written to {out}")
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from ..active import LabRules, recommend_run

    rules = LabRules(
        args.max_lines, args.max_drug_uses, args.available_drugs, args.costs, args.budget
    )
    batch, out = recommend_run(
        args.run,
        candidates=args.candidates,
        drugs=args.drugs,
        monotherapy=_monotherapy(args),
        strategy=args.acquisition,
        batch_size=args.batch_size,
        kappa=args.kappa,
        num_samples=args.num_samples,
        seed=args.seed,
        rules=rules,
        out=args.out,
        overwrite=args.overwrite,
        report_lines=args.report_lines,
    )
    shown = batch.drop(columns="why").head(10)
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print("why:")
    for rank, why in zip(batch["rank"].head(10), batch["why"].head(10), strict=True):
        print(f"{rank:>4}  {why}")
    spent = f", total cost {batch['cost'].sum():g}" if "cost" in batch else ""
    print(f"{len(batch)} recommendations ({args.acquisition}{spent}) written to {out}")
    if args.report_lines:
        print(f"pictures of the batch: open {out.with_suffix('.html')}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from ..active import simulate

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
    columns = SIMULATION_COLUMNS + (COST_COLUMNS if settings.simulation.lab.priced else ())
    print(f"{'strategy':<16}" + "".join(f"{label:>12}" for _, label in columns))
    for name, entry in summary.items():
        cells = [entry[key] for key, _ in columns]
        print(f"{name:<16}" + "".join(f"{'-' if v is None else f'{v:.3g}':>12}" for v in cells))
    print(
        f"results written to {out} (results.csv, results.json, recall.png; each strategy's "
        "last batch drawn in last_round_<strategy>.html)"
    )
    return 0


def cmd_diagnose(args: argparse.Namespace) -> int:
    from ..diagnostics import diagnose

    report = diagnose(args.run, args.out, args.part, args.num_samples, args.overwrite)
    print(f"diagnostics of the {args.part} part written to {report.parent}")
    print(f"open {report}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from ..dose_response import score_file

    scores, out = score_file(
        args.wells, out=args.out, overwrite=args.overwrite, response=args.response, score=args.score
    )
    print(f"{len(scores)} blocks scored ('synergy' = {args.score}); table written to {out}")
    print(f"fit it with: synergy-ppl fit --data {out} --drugs DRUGS.csv")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..sweep import load_sweep_config, run_sweep, summary_lines

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
