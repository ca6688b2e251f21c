"""synergy_ppl: Bayesian neural networks in Pyro for drug-combination synergy."""

__version__ = "0.1.0"
