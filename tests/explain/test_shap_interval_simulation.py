"""Simulation study: coverage of the per-group mean |SHAP| interval on skewed values.

What it measures (fixed seeds): the share of datasets whose studentized-bootstrap
interval (:func:`audits.explain.groups.mean_abs_interval`, 499 resamples) holds the true
mean of |SHAP|-like values, drawn directly (no model is explained):

- ``exp_mix``: 80% of rows near 0 (exponential, mean 0.02), 20% exponential mean 1
  (a feature that matters for a fifth of the rows; skewness 4.6);
- ``zero_mix``: 90% exactly 0, 10% exponential mean 1 (skewness 9.5);
- ``lognormal``: log-normal, sigma 1 (skewness 6.2).

Asserted: coverage >= 0.95 - 2.5 * sqrt(0.95 * 0.05 / R) at 100 and 200 rows for the
mixtures; for the cells where it under-covers most (log-normal at 50 and 100 rows,
``zero_mix`` at 50), that the interval says so (``approximate`` in at least 80% of the
datasets). Not asserted, and reported: log-normal at 200 rows covers about 93% and is
flagged in only about 69% of datasets (the sample skewness of a heavy tail is itself
underestimated). R = 1,000 datasets per cell; about 25 s on one core.
``python tests/explain/test_shap_interval_simulation.py`` prints the docs/statistics.md
table (R = 2,000, with the percentile bootstrap used before for comparison).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from audits.explain.groups import _studentized

pytestmark = pytest.mark.slow

Draw = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]
DISTRIBUTIONS: dict[str, tuple[Draw, float]] = {
    "exp_mix": (lambda rng, size: np.where(rng.random(size) < 0.8,
                                           rng.exponential(0.02, size),
                                           rng.exponential(1.0, size)), 0.8 * 0.02 + 0.2),
    "zero_mix": (lambda rng, size: np.where(rng.random(size) < 0.9, 0.0,
                                            rng.exponential(1.0, size)), 0.1),
    "lognormal": (lambda rng, size: rng.lognormal(0.0, 1.0, size), float(np.exp(0.5))),
}


def _cell(name: str, n: int, r: int, n_boot: int = 499
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coverage indicators, approximate flags and both bounds of R datasets of n rows."""
    draw, true = DISTRIBUTIONS[name]
    rng = np.random.default_rng(10 * n + len(name))
    values = draw(rng, (n, r))  # each column one dataset: one call covers all R
    draws = rng.integers(0, n, size=(n_boot, n))
    low, high, _, approximate = _studentized(values, draws, 0.95)
    return (low <= true) & (true <= high), approximate, low, high


@pytest.mark.parametrize("name", ["exp_mix", "zero_mix"])
@pytest.mark.parametrize("n", [100, 200])
def test_studentized_interval_covers_skewed_mixtures(name: str, n: int) -> None:
    r = 1000
    covered, _, _, _ = _cell(name, n, r)
    assert covered.mean() >= 0.95 - 2.5 * np.sqrt(0.95 * 0.05 / r), covered.mean()


@pytest.mark.parametrize(("name", "n"), [("lognormal", 50), ("lognormal", 100),
                                         ("zero_mix", 50)])
def test_cells_that_do_not_cover_say_so(name: str, n: int) -> None:
    _, approximate, _, _ = _cell(name, n, 1000)
    assert approximate.mean() >= 0.8


def _print_table(r: int = 2000) -> None:  # pragma: no cover - run by hand
    print("| values, rows per group | R | bootstrap-t | percentile (before) | "
          "MC s.e. | approximate |\n|---|---|---|---|---|---|")
    for name, (draw, true) in DISTRIBUTIONS.items():
        for n in (50, 100, 200, 400):
            covered, approximate, _, _ = _cell(name, n, r, n_boot=999)
            rng = np.random.default_rng(n)
            values = draw(rng, (n, r))
            means = values[rng.integers(0, n, size=(999, n))].mean(axis=1)  # (999, r)
            low, high = np.percentile(means, [2.5, 97.5], axis=0)
            old = ((low <= true) & (true <= high)).mean()
            p = covered.mean()
            print(f"| {name}, {n} | {r} | {p:.3f} | {old:.3f} | "
                  f"{np.sqrt(p * (1 - p) / r):.3f} | {approximate.mean():.2f} |")


if __name__ == "__main__":  # pragma: no cover
    _print_table()
