"""Point estimates and bootstrap replicates of every metric, from counts.

The audit's arithmetic core: :func:`estimate` turns :class:`~audits.fairness.counts.GroupCounts`
into arrays (metric -> values per group, and metric -> replicates x groups), which
:mod:`audits.fairness.audit` arranges into tables. Score metrics (ROC AUC, calibration error)
are resampled from each group's score histogram by true label; confusion metrics from
its four confusion cells. Both are stratified multinomial bootstraps (see
:mod:`audits.fairness.intervals`), drawn from independent streams of one seed, so each metric's
replicates have the distribution of resampling the group's rows.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from audits.fairness.counts import GroupCounts
from audits.fairness.intervals import bootstrap_counts, resample_histogram
from audits.fairness.metrics import CONFUSION_METRICS, SCORE_METRICS, confusion_metrics
from audits.fairness.scores import (
    calibration_bins,
    calibration_replicates,
    expected_calibration_error,
    roc_auc,
)

__all__ = ["Estimates", "estimate", "metric_names"]

MSG_UNKNOWN_METRIC = "unknown metric {name!r}; metrics: {choices}"
MSG_SCORE_METRIC = "metric {name!r} needs y_score"
#: Most bootstrap replicates accepted (memory and time grow linearly with n_boot).
MAX_N_BOOT = 10_000
MSG_N_BOOT_MAX = "n_boot must be at most {limit:,} (memory and time); got {value:,}"

Progress = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class Estimates:
    """Point values and bootstrap replicates of each metric for each group.

    ``values[m]`` has shape (n_groups,); ``replicates[m]`` (n_boot, n_groups), or the
    mapping is empty when ``n_boot`` is 0.
    """

    values: dict[str, np.ndarray]
    replicates: dict[str, np.ndarray]
    seed: int


def metric_names(counts: GroupCounts, metrics: Sequence[str] | None) -> list[str]:
    """Resolve the metrics to compute: all that the counts support, or those named.

    ROC AUC needs scores; the calibration error needs scores in [0, 1].

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1, 0], "p": [1, 1], "s": ["a", "b"]})
    >>> metric_names(count_groups(df, y_true="y", y_pred="p", sensitive_features="s"),
    ...              ["accuracy"])
    ['accuracy']
    """
    available = list(CONFUSION_METRICS)
    if counts.scores is not None:
        available.append("roc_auc")
        if counts.scores.unit_interval:
            available.append("expected_calibration_error")
    if metrics is None:
        return available
    names = [metrics] if isinstance(metrics, str) else list(dict.fromkeys(metrics))
    for name in names:
        if name in SCORE_METRICS and name not in available:
            raise ValueError(MSG_SCORE_METRIC.format(name=name))
        if name not in available:
            raise ValueError(MSG_UNKNOWN_METRIC.format(name=name,
                                                       choices=", ".join(available)))
    return names


def estimate(
    counts: GroupCounts,
    metrics: Sequence[str],
    *,
    n_boot: int,
    random_state: int | None,
    calibration: int = 10,
    progress: Progress | None = None,
) -> Estimates:
    """Compute every metric per group, and its bootstrap replicates when ``n_boot > 0``.

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> import pandas as pd
    >>> df = pd.DataFrame({"y": [1, 0, 1], "p": [1, 1, 1], "s": ["a", "b", "b"]})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s")
    >>> e = estimate(c, ["precision"], n_boot=10, random_state=0)
    >>> e.values["precision"].tolist(), e.replicates["precision"].shape
    ([1.0, 0.5], (10, 2))
    """
    if n_boot > MAX_N_BOOT:
        raise ValueError(MSG_N_BOOT_MAX.format(limit=MAX_N_BOOT, value=n_boot))
    report = progress or _silent
    seed = _fresh_seed() if random_state is None else int(random_state)
    conf = [m for m in metrics if m in CONFUSION_METRICS]
    scored = [m for m in metrics if m in SCORE_METRICS]
    cells = counts.cells
    values = confusion_metrics(cells, metrics=conf)
    values.update(_score_values(counts, scored, calibration))
    replicates: dict[str, np.ndarray] = {}
    if n_boot > 0:
        conf_stream, score_stream = np.random.SeedSequence(seed).spawn(2)

        def sub(fraction: float, message: str) -> None:
            report(0.1 + (0.5 if scored else 0.8) * fraction, message)

        draws = bootstrap_counts(cells, n_boot=n_boot, random_state=np.random.default_rng(
            conf_stream), progress=sub)
        replicates = confusion_metrics(draws, metrics=conf)
        if scored:
            replicates.update(_score_replicates(counts, scored, n_boot, score_stream,
                                                calibration, report))
    return Estimates(values=values, replicates=replicates, seed=seed)


def _fresh_seed() -> int:
    entropy = np.random.SeedSequence().entropy
    return int(entropy) % 2**63 if isinstance(entropy, int) else 0


def _silent(fraction: float, message: str) -> None:
    """Ignore progress."""


def _score_values(counts: GroupCounts, names: list[str], calibration: int
                  ) -> dict[str, np.ndarray]:
    hist = counts.scores
    out: dict[str, np.ndarray] = {}
    if hist is None:
        return out
    if "roc_auc" in names:
        out["roc_auc"] = roc_auc(hist.counts)
    if "expected_calibration_error" in names:
        bins = calibration_bins(hist, n_bins=calibration)
        out["expected_calibration_error"] = expected_calibration_error(
            hist.counts, hist.sums, bins, n_bins=calibration)
    return out


def _score_replicates(counts: GroupCounts, names: list[str], n_boot: int,
                      stream: np.random.SeedSequence, calibration: int,
                      report: Progress) -> dict[str, np.ndarray]:
    hist = counts.scores
    if hist is None:
        return {}
    n_groups = len(hist.counts)
    out = {name: np.empty((n_boot, n_groups)) for name in names}
    with np.errstate(divide="ignore", invalid="ignore"):
        means = np.where(hist.counts > 0, hist.sums / np.maximum(hist.counts, 1), 0.0)
    bins = calibration_bins(hist, n_bins=calibration) if "expected_calibration_error" in (
        names) else None
    cells = counts.cells
    order = np.lexsort(cells.T[::-1])  # the same rename-invariant order as the cells

    def group(g: int, child: np.random.SeedSequence) -> None:
        # Each group draws from its own stream, so the replicates do not depend on which
        # thread draws them or when.
        draws = resample_histogram(hist.counts[g], n_boot=n_boot,
                                   random_state=np.random.default_rng(child))
        if "roc_auc" in names:
            out["roc_auc"][:, g] = roc_auc(draws)
        if bins is not None:
            out["expected_calibration_error"][:, g] = calibration_replicates(
                draws, means[g], hist.counts[g], bins, n_bins=calibration)

    # NumPy's sampling and array arithmetic release the GIL: one thread per core, each
    # task in a copy of the caller's context (NumPy's error state lives there).
    with ThreadPoolExecutor(max_workers=min(n_groups, os.cpu_count() or 1) or 1) as pool:
        jobs = [pool.submit(contextvars.copy_context().run, group, int(g), child)
                for g, child in zip(order, stream.spawn(n_groups), strict=True)]
        for i, job in enumerate(jobs):
            job.result()
            report(0.6 + 0.3 * (i + 1) / n_groups, f"Bootstrap of scores: group {i + 1} of "
                   f"{n_groups}")
    return out
