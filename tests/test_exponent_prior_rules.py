"""benchmarks/exponent_prior_rules.py's rules for the exponent prior, on forecasts whose best
exponent is known: two sources, one forecast well by log α = −1, the other by log α = 0."""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from exponent_prior_rules import GRID, choices  # noqa: E402
from learn_priors import Cases, log_typical_error, relative_errors  # noqa: E402


def two_sources(n=40, seed=0):
    """Each forecast: a grid of exponents, equal evidence; the mean at log α = a_s (the source's
    own) is the truth, the further from it the worse (1% per 0.1 of log α)."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-2.0, 1.0, 31)
    source = np.array(["a"] * n + ["b"] * n)
    own = np.where(source == "a", -1.0, 0.0)
    truth = 3.0 + 0.1 * rng.standard_normal(2 * n)
    mean = truth[:, None] * (1 + 0.1 * (grid[None, :] - own[:, None]))
    J = len(grid)
    return Cases(source, np.full(2 * n, 0.4), truth, np.tile(grid, (2 * n, 1)), np.zeros((2 * n, J)), mean,
                 np.full((2 * n, J), 0.003))


def test_the_rules_place_the_prior_between_two_sources_and_the_new_source_rule_widens_it():
    cases = two_sources()
    rules = choices(cases, ["a", "b"])
    assert set(rules) == {"geometric", "new-source", "regret"}
    mu, sd = rules["new-source"]
    # each source's own best mean is its own exponent; the new-source prior is their mean, its sd
    # at least their spread (0.5)
    assert abs(mu + 0.5) < 0.11 and sd >= 0.5
    for rule in ("geometric", "regret"):
        assert rules[rule] in GRID and -1.05 <= rules[rule][0] <= 0.05


def test_the_regret_rule_has_the_smallest_worst_source_regret():
    cases = two_sources(seed=1)
    rules = choices(cases, ["a", "b"])

    def regret(g):
        own = {s: min(log_typical_error(relative_errors(cases, h), cases.source, s) for h in GRID) for s in "ab"}
        return max(log_typical_error(relative_errors(cases, g), cases.source, s) - own[s] for s in "ab")

    assert regret(rules["regret"]) <= regret(rules["geometric"]) + 1e-12
    assert regret(rules["regret"]) <= regret(rules["new-source"]) + 1e-12
