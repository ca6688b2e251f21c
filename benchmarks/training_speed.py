"""Training speed: the project's SVI epochs against a hand-written Bayes-by-backprop network.

Both sides train the same RECOVER architecture (the package defaults: drug MLP 256-64,
symmetric bilinear merge to 64, FiLM from 32 cell-line components, head 64-1, Bayesian head,
trunk dropout RECOVER's default while training) on the same rows (O'Neil, training part
of published fold 0), in the same process, with Adam (lr 3e-3; the project's AdamW has zero
weight decay by default, i.e. Adam) over minibatches:

- ``project``: ``inference.train`` (one epoch) on a ``SynergyModel`` and its mean-field guide
  (``TraceMeanField_ELBO`` as an ``nn.Module``, fused AdamW, validation off); the time is
  ``History.seconds``, the training loop without the once-per-call setup;
- ``reference``: plain PyTorch written here, the same layers and the same Bayesian head:
  weights sampled by reparameterisation from N(mu, softplus(rho)^2), the analytic KL to the
  N(0, 1) prior added to the loss, the likelihood of a batch scaled by N / B, the noise scale
  sigma with a log-normal posterior and a Monte Carlo KL to its HalfNormal(1) prior, as Pyro
  does; optimised with ``torch.optim.Adam`` defaults (a per-tensor loop);
- ``reference_fused``: the same network with ``Adam(fused=True)``, the optimizer kernel the
  project uses (``inference.adamw``), so that its ratio isolates Pyro's own per-step cost.

The machine is shared and its load comes in bursts of seconds, so the sides take turns at a
fine grain: each epoch's shuffled rows are cut into blocks of ``--block-steps`` minibatches,
and every block is trained by the project (one ``train`` call on those rows), then by each
reference, before the next block. A side's epoch time is the sum over its blocks (for the
project this includes allocating the optimizer's state at each call's first step, a small
handicap it keeps). After one warm-up epoch, the medians over ``--repeats`` epochs and the
ratios project / reference (goal <= 1.1) are printed and written as JSON::

    SYNERGY_PPL_DATA=../shared/data python benchmarks/training_speed.py
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from itertools import pairwise

import torch
from common import add_common_options, describe, machine, print_table, write_json
from torch import nn
from torch.distributions import HalfNormal, Normal

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig
from synergy_ppl.data.features import FeatureSet, build_features, encode_pairs
from synergy_ppl.inference.svi import TrainData, TrainingConfig, train
from synergy_ppl.model.guides import mean_field
from synergy_ppl.model.network import SynergyModel, SynergyNet

LR = 3e-3
DROPOUT = ModelConfig(model="recover").dropout
"""RECOVER's default trunk dropout in the package, used on both sides."""
Triples = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


# ------------------------------------------------------------------- hand-written reference


def inverse_softplus(value: float) -> float:
    """rho with softplus(rho) = value."""
    return math.log(math.expm1(value))


class BayesLinear(nn.Module):
    """Mean-field Gaussian linear layer (Blundell et al. 2015) with a N(0, 1) prior.

    q(w) = N(mu, softplus(rho)^2), as Pyro's ``AutoNormal`` parameterises its scales.
    """

    def __init__(self, in_features: int, out_features: int, init_scale: float = 1e-2):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        rho = inverse_softplus(init_scale)
        self.weight_mu = nn.Parameter(
            torch.empty(out_features, in_features).uniform_(-bound, bound)
        )
        self.weight_rho = nn.Parameter(torch.full((out_features, in_features), rho))
        self.bias_mu = nn.Parameter(torch.zeros(out_features))
        self.bias_rho = nn.Parameter(torch.full((out_features,), rho))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight_scale = nn.functional.softplus(self.weight_rho)
        bias_scale = nn.functional.softplus(self.bias_rho)
        weight = self.weight_mu + weight_scale * torch.randn_like(self.weight_mu)
        bias = self.bias_mu + bias_scale * torch.randn_like(self.bias_mu)
        return nn.functional.linear(x, weight, bias)

    def kl(self) -> torch.Tensor:
        """KL(N(mu, s^2) || N(0, 1)) = sum(-log s + (s^2 + mu^2) / 2 - 1/2)."""
        total = torch.zeros(())
        for mu, rho in ((self.weight_mu, self.weight_rho), (self.bias_mu, self.bias_rho)):
            scale = nn.functional.softplus(rho)
            total = total + (-torch.log(scale) + 0.5 * (scale**2 + mu**2) - 0.5).sum()
        return total


class ReferenceBNN(nn.Module):
    """RECOVER in plain PyTorch: deterministic trunk, Bayes-by-backprop head, Normal noise.

    Dropout acts where the package's network applies it: on the drug embeddings and on
    the conditioned merge, in training mode only.
    """

    def __init__(
        self,
        features: FeatureSet,
        drug_layers: tuple[int, ...] = (256, 64),
        merge_dim: int = 64,
        head: int = 64,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.register_buffer("drug_matrix", features.drug_matrix)
        self.register_buffer("cell_matrix", features.cell_matrix)
        sizes = [features.drug_matrix.shape[1], *drug_layers]
        self.drug_mlp = nn.ModuleList(nn.Linear(i, o) for i, o in pairwise(sizes))
        dim = drug_layers[-1]
        self.merge_weight = nn.Parameter(
            torch.empty(merge_dim, dim, dim).uniform_(-1 / dim, 1 / dim)
        )
        self.merge_bias = nn.Parameter(torch.zeros(merge_dim))
        self.film = nn.Linear(features.cell_matrix.shape[1], 2 * merge_dim)
        self.head = nn.ModuleList([BayesLinear(merge_dim, head), BayesLinear(head, 1)])
        self.sigma_mu = nn.Parameter(torch.zeros(()))  # log sigma ~ N(mu, softplus(rho)^2)
        self.sigma_rho = nn.Parameter(torch.tensor(inverse_softplus(1e-2)))
        self.dropout = dropout

    def mean(self, drug_a: torch.Tensor, drug_b: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        """The network output (one weight draw), shape ``(N,)``."""
        x = self.drug_matrix
        for i, layer in enumerate(self.drug_mlp):
            x = layer(x)
            if i < len(self.drug_mlp) - 1:
                x = torch.relu(x)
        embeddings = nn.functional.dropout(torch.relu(x), self.dropout, self.training)
        h_a, h_b = embeddings[drug_a], embeddings[drug_b]
        weight = self.merge_weight + self.merge_weight.transpose(-1, -2)
        projected = torch.einsum("ni,kij->nkj", h_a, weight)
        merged = (projected * h_b.unsqueeze(-2)).sum(-1) + self.merge_bias
        gamma, beta = self.film(self.cell_matrix).chunk(2, dim=-1)
        x = torch.relu(merged * (1.0 + gamma[cell]) + beta[cell])
        x = nn.functional.dropout(x, self.dropout, self.training)
        return self.head[1](torch.relu(self.head[0](x))).squeeze(-1)

    def loss(self, triples: Triples, y: torch.Tensor, n_total: int) -> torch.Tensor:
        """Negative ELBO estimate: -(N/B) sum log N(y | f, sigma^2) + KL(head) + KL(sigma)."""
        q_sigma = Normal(self.sigma_mu, nn.functional.softplus(self.sigma_rho))
        log_sigma = q_sigma.rsample()
        sigma = log_sigma.exp()
        likelihood = Normal(self.mean(*triples), sigma).log_prob(y).sum() * (n_total / len(y))
        # Monte Carlo KL of sigma, with the log-Jacobian of sigma = exp(log_sigma)
        kl_sigma = q_sigma.log_prob(log_sigma) - HalfNormal(1.0).log_prob(sigma) - log_sigma
        return -likelihood + self.head[0].kl() + self.head[1].kl() + kl_sigma


def reference_epoch(net: ReferenceBNN, optimizer, data: TrainData, batch_size: int) -> float:
    """One pass of the hand-written loop over ``data``'s training rows; returns its seconds."""
    start = time.perf_counter()
    n_train = len(data.y_train)
    for batch in torch.randperm(n_train).split(batch_size):
        optimizer.zero_grad()
        loss = net.loss(tuple(t[batch] for t in data.train), data.y_train[batch], n_train)
        loss.backward()
        optimizer.step()
        loss.item()
    return time.perf_counter() - start


# ------------------------------------------------------------------------- measurement


def training_rows(data_dir: str | None, max_rows: int | None) -> tuple[FeatureSet, TrainData]:
    """Features and standardised training rows of O'Neil fold 0 (no validation rows)."""
    config = DataConfig(data="oneil", data_dir=data_dir, split="fold", test_fold=0)
    screen = config.load()
    rows = screen.table.iloc[config.split_of(screen).train[:max_rows]]
    features = build_features(screen)
    y = torch.tensor(rows["score"].to_numpy(), dtype=torch.float32)
    y = (y - y.mean()) / y.std()
    triples = encode_pairs(features, rows)
    empty = tuple(t[:0] for t in triples)
    return features, TrainData(triples, y, empty, y[:0])


REFERENCES = {"reference": {}, "reference_fused": {"fused": True}}
"""Hand-written variants by their ``torch.optim.Adam`` options: the defaults (per-tensor
loop, what a hand-written script usually gets) and the fused kernel the project uses."""


def blocks(data: TrainData, order: torch.Tensor, rows: int) -> list[TrainData]:
    """The training rows in ``order``, cut into consecutive blocks of ``rows`` rows."""
    return [
        TrainData(tuple(t[index] for t in data.train), data.y_train[index], data.val, data.y_val)
        for index in order.split(rows)
    ]


def measure(
    features: FeatureSet, data: TrainData, batch_size: int, repeats: int, block_steps: int
) -> dict:
    """Epoch seconds of each side, blocks of ``block_steps`` steps taken in turn."""
    torch.manual_seed(0)
    model = SynergyModel(SynergyNet(features, dropout=DROPOUT))
    guide = mean_field(model)
    references = {}
    for name, options in REFERENCES.items():
        net = ReferenceBNN(features, dropout=DROPOUT)
        references[name] = (net, torch.optim.Adam(net.parameters(), lr=LR, **options))
    generator = torch.Generator().manual_seed(0)
    n_train = len(data.y_train)
    times: dict[str, list[float]] = {"project": [], **{name: [] for name in references}}
    for repeat in range(repeats + 1):
        order = torch.randperm(n_train, generator=generator)
        seconds = dict.fromkeys(times, 0.0)
        for block in blocks(data, order, block_steps * batch_size):
            training = TrainingConfig(  # patience: unused without validation rows
                epochs=1,
                batch_size=batch_size,
                lr=LR,
                guide_lr=LR,
                weight_decay=0.0,
                patience=1,
                members=1,
            )
            history = train(model, guide, block, training, progress=False)
            seconds["project"] += history.seconds
            for name, (net, optimizer) in references.items():
                seconds[name] += reference_epoch(net, optimizer, block, batch_size)
        if repeat:  # the first epoch is the warm-up
            for name, value in seconds.items():
                times[name].append(value)
    steps = math.ceil(n_train / batch_size)
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {"batch_size": batch_size, "rows": n_train, "steps_per_epoch": steps}
    for name, median in medians.items():
        result[f"{name}_seconds"] = median
        result[f"{name}_ms_per_step"] = 1000 * median / steps
    for name in references:
        result[f"ratio_to_{name}"] = medians["project"] / medians[name]
    result["epochs"] = times
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", default="128,256", help="comma-separated")
    parser.add_argument("--repeats", type=int, default=7, help="measured epochs per side")
    parser.add_argument("--max-rows", type=int, help="use only the first N training rows")
    parser.add_argument("--block-steps", type=int, default=8, help="steps per side in turn")
    add_common_options(parser, "training_speed.json")
    args = parser.parse_args()
    if args.smoke:
        args.batch_sizes, args.repeats, args.max_rows = "128", 2, 1024
    info = machine(args.threads)
    print(describe(info))
    features, data = training_rows(args.data_dir, args.max_rows)
    results = [
        measure(features, data, int(batch), args.repeats, args.block_steps)
        for batch in args.batch_sizes.split(",")
    ]
    print(
        f"\nTraining epoch, O'Neil fold 0 training part ({results[0]['rows']} rows), "
        f"median of {args.repeats} epochs, sides taking turns every {args.block_steps} steps"
    )
    print_table(
        results,
        [
            ("batch", lambda r: str(r["batch_size"])),
            ("steps", lambda r: str(r["steps_per_epoch"])),
            ("project s", lambda r: f"{r['project_seconds']:.2f}"),
            ("reference s", lambda r: f"{r['reference_seconds']:.2f}"),
            ("ref. fused s", lambda r: f"{r['reference_fused_seconds']:.2f}"),
            ("project ms/step", lambda r: f"{r['project_ms_per_step']:.1f}"),
            ("ratio", lambda r: f"{r['ratio_to_reference']:.2f}"),
            ("ratio fused", lambda r: f"{r['ratio_to_reference_fused']:.2f}"),
        ],
    )
    print(
        "ratio = project / reference with torch.optim.Adam defaults; ratio fused = project / "
        "reference with Adam(fused=True), the optimizer kernel the project uses"
    )
    payload = {
        "benchmark": "training_speed",
        "machine": info,
        "smoke": args.smoke,
        "data": "oneil fold 0 training part",
        "goal_ratio": 1.1,
        "results": results,
    }
    print(f"written to {write_json(args.out, payload)}")


if __name__ == "__main__":
    main()
