"""The dashboard's figures and display helpers (no Streamlit needed)."""

from __future__ import annotations

import math

from app import charts, formatting

METRICS = {"accuracy": 0.8, "balanced_accuracy": 0.7, "roc_auc": 0.9, "log_loss": 1.4,
           "brier": 0.2, "positive_rate": 0.3, "n_train": 700, "n_test": 300,
           "undefined": math.nan}
COUNTS = [
    {"feature": "sex", "group": "f", "n": 4, "tp": 1, "fp": 1, "fn": 1, "tn": 1},
    {"feature": "sex", "group": "m", "n": 6, "tp": 3, "fp": 0, "fn": 1, "tn": 2},
    {"feature": "age", "group": "young", "n": 10, "tp": 4, "fp": 1, "fn": 2, "tn": 3},
]


def test_metrics_figure_draws_bounded_rates_only() -> None:
    bar = charts.metrics_figure(METRICS).data[0]
    assert list(bar.y) == ["Accuracy", "Balanced accuracy", "ROC AUC", "Positive rate",
                           "Brier score (lower is better)"]
    assert list(bar.x) == [0.8, 0.7, 0.9, 0.3, 0.2]


def test_group_counts_figure_stacks_cells_per_feature() -> None:
    fig = charts.group_counts_figure(COUNTS)
    assert len(fig.data) == 4 * 2
    assert fig.layout.barmode == "stack"
    sex_tp = fig.data[0]
    assert (sex_tp.name, list(sex_tp.y), list(sex_tp.x)) == ("true positive", ["f", "m"], [1, 3])
    totals = [sum(t.x[i] for t in fig.data[:4]) for i in range(2)]
    assert totals == [4, 6]  # bar height is the group's size
    assert [a.text for a in fig.layout.annotations] == ["sex", "age"]


def test_metric_items_order_and_labels() -> None:
    items = formatting.metric_items(METRICS)
    assert [k for k, _ in items][:6] == ["accuracy", "balanced_accuracy", "roc_auc",
                                         "positive_rate", "brier", "log_loss"]
    assert "n_test" not in dict(items)
    assert formatting.metric_value(dict(items)["undefined"]) == "n/a"
    assert formatting.metric_label("log_loss") == "Log loss (lower is better)"
    assert formatting.count(48842) == "48,842" and formatting.count(None) == "-"
