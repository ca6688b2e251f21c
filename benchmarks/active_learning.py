"""Active-learning benchmark: BNN strategies vs a random forest and a model-free reference.

Runs, on one cell line of a screen (default NCI-ALMANAC MCF7), through the package's own
simulation loop (same pools, same initial draws per seed, same records):

- ``scratch``: the BNN strategies fitted from scratch each round, random, and a scikit-learn
  random forest (200 trees, Morgan fingerprints A+B and |A-B|) with UCB on the spread of its
  trees (``rf-ucb``);
- ``prior``: pretrained on every other cell line, the pretrained posterior as prior; the
  pretrained model chooses the first batch itself (``--pretrained-initial 0``), so its arms
  test as many pairs as the others without a random initial draw;
- ``warm-start``: the same pretrained model, plain fine-tuning (prior unchanged);
- ``best-elsewhere``: no model, pairs ranked by their best score in the other cell lines;
- with ``--reference-arms``, the additive random-effects GP of ``additive_gp.py`` beside the
  scratch arms (``gp-ucb``; ``gp-ucb-known-spread``, which is told each drug's and line's
  spread of scores in the hidden screen: an oracle, to measure what that knowledge is worth).

Prints one table and adds its rows to ``summary.json`` beside the simulations' folders (rows
of variants run by other invocations are kept). Resumable: rerun the same command to
continue. Needs the ``bench`` extra (scikit-learn)::

    SYNERGY_PPL_DATA=../shared/data python benchmarks/active_learning.py --seeds 5
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from additive_gp import REFERENCE_ARMS
from sklearn.ensemble import RandomForestRegressor

from synergy_ppl.acquisition import top_q
from synergy_ppl.active import (
    ROUND_MODEL,
    LabRules,
    Pool,
    SimulationConfig,
    round_options,
    round_seed,
    simulate,
)
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig, Screen
from synergy_ppl.data.features import build_features
from synergy_ppl.inference.svi import STOPPING_LOSSES
from synergy_ppl.model.families import FAMILIES
from synergy_ppl.outputs import write_json
from synergy_ppl.transfer import Transfer

COLUMNS = (
    ("recall_mean", "recall", "{:.2f}"),
    ("recall_sd", "sd", "{:.2f}"),
    ("of_oracle", "/oracle", "{:.2f}"),
    ("recall_at_60", "@60", "{:.2f}"),
    ("tested_to_50", "n@50%", "{:.0f}"),
    ("tested_to_80", "n@80%", "{:.0f}"),
    ("median_seconds_per_round", "s/round", "{:.1f}"),
)


def pair_features(screen: Screen, pool: Pool) -> np.ndarray:
    """``(N, 2F + G)``: fingerprint sum and absolute difference of the two drugs, cell line."""
    features = build_features(screen, one_hot_drugs=False)
    drugs = {d: i for i, d in enumerate(features.drugs)}
    cells = {c: i for i, c in enumerate(features.cell_lines)}
    fp = features.drug_matrix.numpy()
    a = fp[[drugs[d] for d in pool.table["drug_a"]]]
    b = fp[[drugs[d] for d in pool.table["drug_b"]]]
    cell = features.cell_matrix.numpy()[[cells[c] for c in pool.table["cell_line"]]]
    return np.hstack([a + b, np.abs(a - b), cell])


def forest_ucb(batch_size: int, kappa: float = 1.0, trees: int = 200):
    """Proposer factory: random forest, UCB = mean + kappa * SD over its trees."""

    def factory(pool: Pool, screen: Screen, seed: int):
        x = pair_features(screen, pool)

        def propose(revealed: np.ndarray, round_index: int) -> np.ndarray:
            forest = RandomForestRegressor(trees, random_state=round_seed(seed, round_index))
            forest.fit(x[revealed], pool.scores[revealed])
            per_tree = np.stack([tree.predict(x) for tree in forest.estimators_])
            score = torch.as_tensor(per_tree.mean(0) + kappa * per_tree.std(0))
            closed = pool.closed(revealed)  # the lab's rules bind the forest as well
            return top_q(score, batch_size, closed, constraints=pool.lab.constraints).numpy()

        return propose

    return factory


def best_elsewhere(data: DataConfig, top_fraction: float, checkpoints: list[int]) -> dict:
    """Model-free reference: the target's pairs ranked by their best score in other lines."""
    whole = replace(data, cell_line=None).load().table
    target = whole[whole["cell_line"] == data.cell_line].reset_index(drop=True)
    pool = Pool.of(target, top_fraction)
    others = whole[whole["cell_line"] != data.cell_line]
    best = others.groupby(["drug_a", "drug_b"])["score"].max()
    prior = target.set_index(["drug_a", "drug_b"]).index.map(best).to_numpy(dtype=float)
    order = np.argsort(-np.nan_to_num(prior, nan=-np.inf), kind="stable")
    found = np.cumsum(pool.top[order]) / pool.top.sum()  # recall after 1, 2, ... tests
    return {
        "recall": {n: float(found[n - 1]) for n in checkpoints},
        "tested_to_50": int(np.argmax(found >= 0.5)) + 1,
        "tested_to_80": int(np.argmax(found >= 0.8)) + 1,
    }


def recall_at(out: Path, tested: int) -> dict:
    """Mean recall per strategy at ``tested`` pairs, from a simulation's results.json."""
    rows = json.loads((out / "results.json").read_text())["rounds"]
    at: dict[str, list[float]] = {}
    for row in rows:
        if row["tested"] == tested:
            at.setdefault(row["strategy"], []).append(row["recall"])
    return {name: float(np.mean(v)) for name, v in at.items()}


def add_round_model_options(parser: argparse.ArgumentParser) -> None:
    """Options of the BNN fitted each round (defaults: ``synergy-ppl simulate``'s, and for
    the others the family's)."""
    parser.add_argument(
        "--model", default=ROUND_MODEL.model, choices=list(FAMILIES), help="the rounds' family"
    )
    parser.add_argument("--epochs", type=int, default=ROUND_MODEL.epochs, help="epochs per round")
    parser.add_argument("--min-steps", type=int, default=ROUND_MODEL.min_steps)
    parser.add_argument(
        "--fit-batch-size",
        type=int,
        default=ROUND_MODEL.batch_size,
        help="SVI minibatch of each round's fit (default: the whole revealed set)",
    )
    parser.add_argument("--lr", type=float, help="learning rate of the point layers")
    parser.add_argument("--guide-lr", type=float, help="learning rate of the guide")
    parser.add_argument("--dropout", type=float, help="trunk dropout (recover's rounds: 0.1)")
    parser.add_argument(
        "--drug-effects",
        type=float,
        default=ROUND_MODEL.drug_effects,
        help="prior SD of the BNN's drug effects",
    )
    parser.add_argument(
        "--pair-effects",
        type=float,
        default=ROUND_MODEL.pair_effects,
        help="prior SD of the BNN's pair effects",
    )
    parser.add_argument(
        "--noise-effects", type=float, help="prior SD of the per-line and per-drug noise scales"
    )
    parser.add_argument(
        "--trunk-anchor",
        type=float,
        default=ROUND_MODEL.trunk_anchor,
        help="precision tying a pretrained trunk to its values in each round (L2-SP)",
    )
    parser.add_argument(
        "--stop-on",
        choices=list(STOPPING_LOSSES),
        help="the validation loss of the pretraining fit's early stopping (default: nll)",
    )


def round_model(args: argparse.Namespace) -> ModelConfig:
    """The per-round ModelConfig of :func:`add_round_model_options`' options."""
    given = {
        "model": args.model,
        "epochs": args.epochs,
        "min_steps": args.min_steps,
        "batch_size": args.fit_batch_size,
        "lr": args.lr,
        "guide_lr": args.guide_lr,
        "dropout": args.dropout,
        "drug_effects": args.drug_effects,
        "pair_effects": args.pair_effects,
        "noise_effects": args.noise_effects,
        "trunk_anchor": args.trunk_anchor,
        "stop_on": args.stop_on,
    }
    options = round_options(args.model)
    return ModelConfig(**{**options, **{k: v for k, v in given.items() if v is not None}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="almanac")
    parser.add_argument("--data-dir")
    parser.add_argument(
        "--cell-line", default="MCF7", help="the pool's cell line, or 'all' for the whole screen"
    )
    parser.add_argument("--strategies", default="ucb,thompson-batch,random")
    parser.add_argument("--variants", default="scratch,prior,warm-start")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first .. first+seeds-1")
    parser.add_argument(
        "--reference-arms",
        default="",
        help=f"comma-separated, beside the scratch arms: {', '.join(REFERENCE_ARMS)}",
    )
    parser.add_argument("--rounds", type=int, default=SimulationConfig.rounds)
    parser.add_argument("--batch-size", type=int, default=SimulationConfig.pairs_per_round)
    parser.add_argument("--initial", type=int, default=SimulationConfig.initial)
    parser.add_argument("--kappa", type=float, default=SimulationConfig.kappa)
    parser.add_argument("--widen", type=float, default=Transfer.widen)
    add_round_model_options(parser)
    parser.add_argument(
        "--pretrained-initial",
        type=int,
        default=0,
        help="pairs revealed at random before a pretrained model's first round (0: it "
        "chooses the first batch; the budget stays --initial + --rounds x --batch-size)",
    )
    parser.add_argument("--pretrain-epochs", type=int, default=SimulationConfig.pretrain_epochs)
    parser.add_argument(
        "--pretrain-batch-size", type=int, default=SimulationConfig.pretrain_batch_size
    )
    parser.add_argument("--pretrain-dropout", type=float, default=SimulationConfig.pretrain_dropout)
    parser.add_argument("--max-lines", type=int, help="at most this many cell lines per batch")
    parser.add_argument("--max-drug-uses", type=int, help="at most this many triples per drug")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", default=None, help="default benchmarks/results/active-<line>")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    out = Path(args.out or f"benchmarks/results/active-{args.cell_line}")
    whole_screen = args.cell_line == "all"
    data = DataConfig(
        args.data, data_dir=args.data_dir, cell_line=None if whole_screen else args.cell_line
    )
    if whole_screen and args.variants != "scratch":
        parser.error("--cell-line all has no other cell lines to pretrain on: --variants scratch")
    model = round_model(args)
    strategies = tuple(args.strategies.split(","))
    bnn_strategies = tuple(s for s in strategies if s != "random")
    base = SimulationConfig(
        strategies,
        rounds=args.rounds,
        pairs_per_round=args.batch_size,
        initial=args.initial,
        seeds=args.seeds,
        first_seed=args.first_seed,
        kappa=args.kappa,
        transfer=Transfer(widen=args.widen),
        pretrain_epochs=args.pretrain_epochs,
        pretrain_batch_size=args.pretrain_batch_size,
        pretrain_dropout=args.pretrain_dropout,
        lab=LabRules(args.max_lines, args.max_drug_uses),
    )
    shift, rest = divmod(args.initial - args.pretrained_initial, args.batch_size)
    if rest or shift < 0:
        parser.error("--initial - --pretrained-initial must be a multiple of --batch-size")
    pretrained = replace(
        base,
        strategies=bnn_strategies,
        initial=args.pretrained_initial,
        rounds=args.rounds + shift,
        pretrain="other-cell-lines",
    )
    references = [name for name in args.reference_arms.split(",") if name]
    unknown = sorted(set(references) - set(REFERENCE_ARMS))
    if unknown:
        parser.error(f"unknown --reference-arms {unknown}; choose from {list(REFERENCE_ARMS)}")
    scratch_extra = {"rf-ucb": forest_ucb(args.batch_size, args.kappa)}
    scratch_extra |= {
        name: REFERENCE_ARMS[name](args.batch_size, args.kappa) for name in references
    }
    runs = {
        "scratch": (base, scratch_extra),
        "prior": (pretrained, {}),
        "warm-start": (
            replace(
                pretrained,
                pretrain=str(out / "prior" / "pretrain.pt"),
                transfer=Transfer("warm-start", args.widen),
            ),
            {},
        ),
    }
    table: dict[str, dict] = {}
    for variant in args.variants.split(","):
        sim, extra = runs[variant]
        print(f"== {variant}")
        summary = simulate(data, sim, model, out / variant, extra_proposers=extra)
        at_60 = recall_at(out / variant, 60)
        for name, entry in summary.items():
            label = name if name in ("random", *extra) else f"{name} ({variant})"
            table[label] = {**entry, "recall_at_60": at_60.get(name, math.nan)}
    tested = args.initial + args.rounds * args.batch_size
    if not whole_screen:
        reference = best_elsewhere(data, base.top_fraction, [60, tested])
        table["best-elsewhere"] = {
            "recall_mean": reference["recall"][tested],
            "recall_sd": 0.0,
            "recall_at_60": reference["recall"][60],
            "tested_to_50": reference["tested_to_50"],
            "tested_to_80": reference["tested_to_80"],
            "median_seconds_per_round": 0.0,
        }
    oracle = next(iter(table.values()))["oracle"]  # same pool and budget in every arm
    for entry in table.values():
        entry["of_oracle"] = entry["recall_mean"] / oracle
    print(f"\n{args.data} {args.cell_line}: top-1% recall after {tested} tests, {args.seeds} seeds")
    print(f"{'strategy':<24}" + "".join(f"{label:>9}" for _, label, _ in COLUMNS))
    for name, entry in table.items():
        cells = []
        for key, _, fmt in COLUMNS:
            value = entry.get(key)
            ok = value is not None and not (isinstance(value, float) and math.isnan(value))
            cells.append(f"{fmt.format(value) if ok else '-':>9}")
        print(f"{name:<24}" + "".join(cells))
    summary_path = out / "summary.json"
    earlier = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    write_json(summary_path, {**earlier, **table})
    print(f"written to {out / 'summary.json'}")


if __name__ == "__main__":
    main()
