"""The one-hot MLP baseline of O'Neil: a plain network on the identities of drug A, drug B and
the cell line, with no chemistry and no expression.

The network and training of the baseline measured in ``shared/notes/data-pitfalls.md`` (and of
the tastanlab/ohe study's DeepSynergy-on-one-hot): input [one-hot(a), one-hot(b), one-hot(c)],
layers 1024-512 with ReLU, input dropout 0.2 and hidden dropout 0.5, trained on both drug orders
of every row with Adam (lr 3e-4, batch 256, fixed epochs, no early stopping) on the standardised
score, predicting the mean of both orders. A point estimate: its intervals are a Gaussian whose SD
is the residual SD on the validation part.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from torch import nn


class OneHotMLP(nn.Module):
    """g(a, b, c) on one-hot inputs; ``forward`` averages both drug orders: ``(N,)``.

    With ``drug_features`` ``(D, F)`` (e.g. fingerprints) each drug's row is appended to its
    one-hot identity: DeepSynergy's inputs with the identities kept. With ``monotherapy``
    ``(D, C)`` (standardised single-agent responses, NaN where missing) each order also gets
    ``m_a, m_b, m_a m_b, m_a + m_b`` (0 where missing) and the two missing indicators.
    """

    def __init__(
        self,
        n_drugs: int,
        n_cells: int,
        layers=(1024, 512),
        drug_features: torch.Tensor | None = None,
        monotherapy: torch.Tensor | None = None,
    ):
        super().__init__()
        self.single = monotherapy is not None
        if self.single:
            missing = torch.isnan(monotherapy)
            self.register_buffer("single_values", torch.where(missing, 0.0, monotherapy))
            self.register_buffer("single_missing", missing.float())
        self.n_drugs, self.n_cells = n_drugs, n_cells
        features = torch.zeros(n_drugs, 0) if drug_features is None else drug_features
        self.register_buffer("drug_features", features.float())
        sizes = [2 * (n_drugs + features.shape[1]) + n_cells + 6 * self.single, *layers]
        blocks: list[nn.Module] = [nn.Dropout(0.2)]
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            blocks += [nn.Linear(fan_in, fan_out), nn.ReLU(), nn.Dropout(0.5)]
        self.net = nn.Sequential(*blocks, nn.Linear(sizes[-1], 1))

    def one_order(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        parts = [
            nn.functional.one_hot(a, self.n_drugs).float(),
            self.drug_features[a],
            nn.functional.one_hot(b, self.n_drugs).float(),
            self.drug_features[b],
            nn.functional.one_hot(c, self.n_cells).float(),
        ]
        if self.single:
            m_a, m_b = self.single_values[a, c], self.single_values[b, c]
            o_a, o_b = self.single_missing[a, c], self.single_missing[b, c]
            parts.append(torch.stack([m_a, m_b, m_a * m_b, m_a + m_b, o_a, o_b], -1))
        return self.net(torch.cat(parts, -1)).squeeze(-1)

    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.one_order(a, b, c) + self.one_order(b, a, c))


def _indices(table: pd.DataFrame, drugs: dict, cells: dict) -> tuple[torch.Tensor, ...]:
    return tuple(
        torch.tensor(table[column].map(index).to_numpy(), dtype=torch.long)
        for column, index in (("drug_a", drugs), ("drug_b", drugs), ("cell_line", cells))
    )


def fit_and_predict(
    table: pd.DataFrame,
    train: np.ndarray,
    predict: dict[str, np.ndarray],
    epochs: int = 80,
    seed: int = 0,
    drug_features: pd.DataFrame | None = None,
    monotherapy: pd.DataFrame | None = None,
) -> tuple[dict[str, torch.Tensor], float]:
    """Train on rows ``train`` of ``table``; return predictions for each named row set and
    the training seconds. Predictions are on the original score scale, ``(N,)`` each.
    ``drug_features`` (rows indexed by drug) are appended to the identities;
    ``monotherapy`` (drugs x lines, standardised, NaN where missing) adds the pair's
    single-agent responses."""
    torch.manual_seed(seed)
    drugs = {d: i for i, d in enumerate(sorted(set(table["drug_a"]) | set(table["drug_b"])))}
    cells = {c: i for i, c in enumerate(sorted(set(table["cell_line"])))}
    a, b, c = _indices(table.iloc[train], drugs, cells)
    y = torch.tensor(table["score"].to_numpy()[train], dtype=torch.float32)
    mean, sd = y.mean(), y.std()
    # both orders as separate training rows
    a, b, c, target = torch.cat([a, b]), torch.cat([b, a]), torch.cat([c, c]), (y - mean) / sd
    target = torch.cat([target, target])
    features = None
    if drug_features is not None:
        features = torch.tensor(drug_features.loc[list(drugs)].to_numpy(), dtype=torch.float32)
    single = None
    if monotherapy is not None:
        grid = monotherapy.reindex(index=list(drugs), columns=list(cells))
        single = torch.tensor(grid.to_numpy(dtype=np.float32))
    net = OneHotMLP(len(drugs), len(cells), drug_features=features, monotherapy=single)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-4)
    start = time.perf_counter()
    net.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(target)).split(256):
            optimiser.zero_grad()
            prediction = net.one_order(a[batch], b[batch], c[batch])
            loss = nn.functional.mse_loss(prediction, target[batch])
            loss.backward()
            optimiser.step()
    seconds = time.perf_counter() - start
    net.eval()
    with torch.no_grad():
        out = {
            name: net(*_indices(table.iloc[rows], drugs, cells)) * sd + mean
            for name, rows in predict.items()
        }
    return out, seconds
