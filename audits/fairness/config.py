"""The configuration of a fairness audit: everything that determines its numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audits.fairness.family import METHOD as VERDICT_METHOD
from audits.fairness.verdicts import Rule

__all__ = ["AuditConfig"]


@dataclass(frozen=True)
class AuditConfig:
    """Everything that determines an audit's numbers, for the report and for reruns."""

    y_true: str
    y_pred: str | None
    y_score: str | None
    threshold: float | None
    positive_label: str
    sensitive_features: tuple[str, ...]
    slices: tuple[tuple[str, ...], ...]
    metrics: tuple[str, ...]
    reference: str | dict[str, str]
    rules: tuple[Rule, ...]
    n_boot: int
    level: float
    random_state: int
    min_n: int
    min_cell_count: int
    positive_is_favourable: bool
    score_histogram: str | None
    score_bins: int
    calibration_bins: int
    alpha: float
    power: float

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready mapping, with the methods spelled out."""
        return {
            "y_true": self.y_true, "y_pred": self.y_pred, "y_score": self.y_score,
            "threshold": self.threshold, "positive_label": self.positive_label,
            "sensitive_features": list(self.sensitive_features),
            "slices": [list(s) for s in self.slices], "metrics": list(self.metrics),
            "reference": self.reference, "rules": [r.as_dict() for r in self.rules],
            "n_boot": self.n_boot, "level": self.level, "random_state": self.random_state,
            "min_n": self.min_n, "min_cell_count": self.min_cell_count,
            "positive_is_favourable": self.positive_is_favourable,
            "score_histogram": self.score_histogram, "score_bins": self.score_bins,
            "calibration_bins": self.calibration_bins, "alpha": self.alpha,
            "power": self.power,
            "interval": "percentile bootstrap; stratified: each group's confusion counts "
                        "resampled as Multinomial(n_group, observed shares), n_group fixed; "
                        "for a proportion observed at 0 or 1 (and its differences and "
                        "ratios) widened to the hull with the Wilson score bounds",
            "test": "two-sided two-proportion z-test, Fisher's exact test when an expected "
                    "cell is below 5; Benjamini-Hochberg over all disparities tested",
            "verdict": VERDICT_METHOD,
        }
