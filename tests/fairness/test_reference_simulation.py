"""Simulation: family-wise false ``fail`` under the null for each reference choice.

Four groups of 100 with identical rates (no group treated differently), default rules
(every metric's ratio within [0.8, 1.25]) on the proportion metrics, references fixed
(``{"s": "a"}``), largest (ties to the first label: all groups are the same size) and
best-off (chosen from the same data; the family then holds every pair of the slice).
Asserts the share of audits with any ``fail`` <= 0.05 + 2.5 MC standard errors for each.
About 80 s on one core. Table: docs/fairness.md, "Reference groups".
"""

from __future__ import annotations

import numpy as np
import pytest

import audits.fairness.tables as tables_module
from audits.fairness.audit import audit_counts
from audits.fairness.count_types import FineCounts
from audits.fairness.rollup import counts_from_fine

pytestmark = pytest.mark.slow

R = 150
N = 100
METRICS = ["selection_rate", "true_positive_rate", "false_positive_rate", "precision"]
REFERENCES: dict[str, str | dict[str, object]] = {
    "fixed": {"s": "a"}, "largest": "largest", "best": "best"}


def null_fail_rates(r: int, seed: int = 5) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    probs = np.array([0.3 * 0.6, 0.7 * 0.2, 0.3 * 0.4, 0.7 * 0.8])
    fails = dict.fromkeys(REFERENCES, 0)
    for i in range(r):
        cells = rng.multinomial(N, probs, size=4).reshape(-1)
        keep = cells > 0
        fine = FineCounts(rows=int(cells.sum()), features=("s",),
                          values=(np.repeat(np.array(list("abcd"), dtype=object), 4)[keep],),
                          y=np.tile([1, 0, 1, 0], 4)[keep], p=np.tile([1, 1, 0, 0], 4)[keep],
                          count=cells[keep])
        counts = counts_from_fine(fine, y_true="y", y_pred="p", pos_label=1,
                                  slices=[("s",)])
        for name, reference in REFERENCES.items():
            audit = audit_counts(counts, metrics=METRICS, reference=reference, n_boot=20,
                                 random_state=i)
            fails[name] += bool((audit.verdicts["verdict"] == "fail").any())
    return {k: v / r for k, v in fails.items()}


@pytest.fixture(autouse=True)
def _no_mdd(monkeypatch: pytest.MonkeyPatch) -> None:
    # Verdicts do not read the detectable difference; skip its cost here.
    monkeypatch.setattr(tables_module, "min_detectable_difference",
                        lambda n1, n2, p0, **_: np.full(np.shape(n1), np.nan))


def test_no_reference_choice_raises_the_family_wise_false_fail_rate() -> None:
    limit = 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / R)
    rates = null_fail_rates(R)
    for name, rate in rates.items():
        assert rate <= limit, (name, rate)


if __name__ == "__main__":
    setattr(tables_module, "min_detectable_difference",  # noqa: B010
            lambda n1, n2, p0, **_: np.full(np.shape(n1), np.nan))
    r = 300
    print("| reference | R | audits with any fail | MC se | 95% upper bound |")
    print("|---|---|---|---|---|")
    for name, rate in null_fail_rates(r).items():
        se = np.sqrt(rate * (1 - rate) / r)
        upper = 3 / r if rate == 0 else rate + 1.645 * se  # rule of three at 0
        print(f"| {name} | {r} | {rate:.4f} | {se:.4f} | {upper:.4f} |")
