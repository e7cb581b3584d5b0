"""Per-group reliability (calibration) tables from rows, with binomial intervals.

A reliability table bins the predicted scores into ``n_bins`` equal-width bins over
[0, 1] and, per group and non-empty bin, sets the observed share of positives against
the mean predicted score, with an interval for the observed share and the bin's count:
a calibrated group's points lie on the diagonal up to their intervals. Bins are those of
scikit-learn's ``calibration_curve(strategy="uniform")`` (a score on an inner edge falls
in the lower bin), so the means match it exactly.

Unlike :func:`audits.fairness.scores.reliability_curve`, which reads the audit's score
histograms (a fine bin falls wholly in the calibration bin of its lowest score), this
reads the rows, so every score lands in its own bin; :func:`run_reliability` rebuilds
the rows of a stored fairness run for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from audits.fairness.intervals import wilson_interval

if TYPE_CHECKING:
    from audits.roles import Actor
    from audits.store import AuditRunRecord, Store

__all__ = ["INTERVAL_METHODS", "MSG_NO_SCORE", "reliability_table", "run_reliability"]

#: Interval methods for the observed share of a bin.
INTERVAL_METHODS = ("wilson", "clopper_pearson")
MSG_NOT_PROBABILITIES = ("y_score must lie in [0, 1] to be read as a probability; it ranges "
                         "over [{low}, {high}]")
MSG_BAD_LABELS = "y_true must be binary (0/1 or True/False); found values {values}"
MSG_LENGTHS = "y_true, y_score and sensitive_features differ in length: {lengths}"
MSG_METHOD = "method must be one of {options}, not {method!r}"
MSG_BINS = "n_bins must be an integer of at least 1, not {n_bins!r}"
MSG_MISSING = "{name} has {n} missing values; drop or fill them first"
MSG_NO_SCORE = "run #{id} has no scores: its decisions carry no score and no model gives one"
MSG_NOT_FAIRNESS = "run #{id} is not a completed fairness audit"
MSG_LEVEL = "level must lie strictly between 0 and 1, not {level!r}"

_COLUMNS = ["slice", "group", "bin", "bin_low", "bin_high", "n", "positives", "mean_score",
            "observed_rate", "ci_low", "ci_high"]


def reliability_table(
    y_true: Sequence[int] | np.ndarray | pd.Series,
    y_score: Sequence[float] | np.ndarray | pd.Series,
    *,
    sensitive_features: pd.Series | pd.DataFrame,
    n_bins: int = 10,
    method: str = "wilson",
    level: float = 0.95,
) -> pd.DataFrame:
    """Return the observed positive rate against the mean score, per group and bin.

    Parameters
    ----------
    y_true : array-like of shape (n_rows,)
        Binary outcomes (1 or True is the positive class).
    y_score : array-like of shape (n_rows,)
        Predicted probabilities of the positive class, in [0, 1].
    sensitive_features : pandas.Series or pandas.DataFrame with n_rows rows
        A group is each distinct value (or combination of the columns' values).
    n_bins : int, default 10
        Equal-width bins over [0, 1], as ``calibration_curve(strategy="uniform")``.
    method : {"wilson", "clopper_pearson"}, default "wilson"
        Interval of the observed share of a bin (Wilson score, or the exact
        Clopper-Pearson interval).
    level : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        One row per (group, non-empty bin), groups in order of first appearance and bins
        ascending: ``slice`` (the feature names joined by ``" & "``), ``group``
        (``"sex=female & age=old"``), ``bin``, ``bin_low``, ``bin_high``, ``n``,
        ``positives``, ``mean_score``, ``observed_rate``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> table = reliability_table([0, 1, 1, 0, 1], [0.1, 0.8, 0.85, 0.3, 0.9],
    ...                           sensitive_features=pd.Series(list("aabbb"), name="s"),
    ...                           n_bins=2)
    >>> table[["group", "bin", "n", "mean_score", "observed_rate"]]
      group  bin  n  mean_score  observed_rate
    0   s=a    0  1       0.100            0.0
    1   s=a    1  1       0.800            1.0
    2   s=b    0  1       0.300            0.0
    3   s=b    1  2       0.875            1.0
    """
    labels, scores, groups = _checked(y_true, y_score, sensitive_features, n_bins, method,
                                      level)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], scores)  # sklearn's binning, inner edges left
    frame = pd.DataFrame({"group": groups, "bin": bins, "y": labels, "score": scores})
    agg = (frame.groupby(["group", "bin"], sort=False)
           .agg(n=("y", "size"), positives=("y", "sum"), score_sum=("score", "sum"))
           .reset_index())
    order = {g: i for i, g in enumerate(dict.fromkeys(groups))}
    agg = agg.sort_values(["group", "bin"], key=lambda c: c.map(order) if c.name == "group"
                          else c).reset_index(drop=True)
    n = agg["n"].to_numpy(dtype=np.float64)
    positives = agg["positives"].to_numpy(dtype=np.float64)
    low, high = _interval(positives, n, method, level)
    return pd.DataFrame({
        "slice": " & ".join(str(c) for c in _columns(sensitive_features)),
        "group": agg["group"].to_numpy(), "bin": agg["bin"].to_numpy(dtype=np.int64),
        "bin_low": edges[agg["bin"].to_numpy()], "bin_high": edges[agg["bin"].to_numpy() + 1],
        "n": agg["n"].to_numpy(dtype=np.int64),
        "positives": agg["positives"].to_numpy(dtype=np.int64),
        "mean_score": agg["score_sum"].to_numpy() / n, "observed_rate": positives / n,
        "ci_low": low, "ci_high": high,
    }, columns=_COLUMNS)


def run_reliability(store: Store, actor: Actor, run: AuditRunRecord, *, n_bins: int = 10,
                    method: str = "wilson") -> pd.DataFrame:
    """Return :func:`reliability_table` of a stored fairness run, for each of its slices.

    The run's decisions are rebuilt from stored provenance
    (:func:`audits.fairness.stored.decisions_for`; the model file's and data's hashes are
    checked), and every slice the run audited (each sensitive feature, and their
    intersections when it audited them) gets its groups' rows, at the run's level.

    Raises
    ------
    ValueError
        The run is not a completed fairness audit, or its decisions have no score
        (:data:`MSG_NO_SCORE`), or the scores are not probabilities.
    """
    from audits.fairness.stored import decisions_for

    results = run.results or {}
    if run.status != "completed" or run.config.get("kind") != "fairness" or not results:
        raise ValueError(MSG_NOT_FAIRNESS.format(id=run.id))
    dataset = store.get_dataset(run.dataset_id)
    model = store.get_model(run.model_id) if run.model_id is not None else None
    if dataset is None:
        raise ValueError(MSG_NOT_FAIRNESS.format(id=run.id))
    decisions = decisions_for(store, actor, dataset, model,
                              exclude_rows=run.config.get("exclude_rows", ()))
    if decisions.y_score is None:
        raise ValueError(MSG_NO_SCORE.format(id=run.id))
    frame = decisions.frame
    level = float(results["config"].get("level", 0.95))
    tables = [reliability_table(frame[decisions.y_true], frame[decisions.y_score],
                                sensitive_features=frame[list(features)].astype(str),
                                n_bins=n_bins, method=method, level=level)
              for features in results["config"]["slices"]]
    return pd.concat(tables, ignore_index=True)


def _checked(y_true: object, y_score: object, sensitive: pd.Series | pd.DataFrame,
             n_bins: int, method: str,
             level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(MSG_BINS.format(n_bins=n_bins))
    if not 0.0 < level < 1.0:
        raise ValueError(MSG_LEVEL.format(level=level))
    if method not in INTERVAL_METHODS:
        raise ValueError(MSG_METHOD.format(options=INTERVAL_METHODS, method=method))
    if not isinstance(sensitive, pd.Series | pd.DataFrame):
        raise TypeError("sensitive_features must be a pandas Series or DataFrame, not "
                        f"{type(sensitive).__name__}")
    labels = pd.Series(np.asarray(y_true)).reset_index(drop=True)
    scores = pd.to_numeric(pd.Series(np.asarray(y_score)), errors="raise")
    lengths = {len(labels), len(scores), len(sensitive)}
    if len(lengths) > 1:
        raise ValueError(MSG_LENGTHS.format(lengths=sorted(lengths)))
    for name, values in (("y_true", labels), ("y_score", scores)):
        if values.isna().any():
            raise ValueError(MSG_MISSING.format(name=name, n=int(values.isna().sum())))
    found = set(labels.unique().tolist())
    if not found <= {0, 1}:
        raise ValueError(MSG_BAD_LABELS.format(values=sorted(map(str, found))))
    score = scores.to_numpy(dtype=np.float64)
    if len(score) and (score.min() < 0.0 or score.max() > 1.0):
        raise ValueError(MSG_NOT_PROBABILITIES.format(low=score.min(), high=score.max()))
    return labels.to_numpy(dtype=np.int64), score, _group_names(sensitive)


def _columns(sensitive: pd.Series | pd.DataFrame) -> list[object]:
    if isinstance(sensitive, pd.DataFrame):
        return list(sensitive.columns)
    return [sensitive.name if sensitive.name is not None else "group"]


def _group_names(sensitive: pd.Series | pd.DataFrame) -> np.ndarray:
    frame = sensitive.to_frame() if isinstance(sensitive, pd.Series) else sensitive
    names = _columns(sensitive)
    parts = [f"{name}=" + frame.iloc[:, i].astype(str) for i, name in enumerate(names)]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + " & " + part
    out: np.ndarray = joined.to_numpy(dtype=object)
    return out


def _interval(positives: np.ndarray, n: np.ndarray, method: str,
              level: float) -> tuple[np.ndarray, np.ndarray]:
    if method == "wilson":
        low, high = wilson_interval(positives, n, level=level)
        # Exact at the ends: the score bound of 0 of n is 0, not a rounding error above it.
        return np.where(positives == 0, 0.0, low), np.where(positives == n, 1.0, high)
    alpha = 1.0 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(positives > 0,
                       stats.beta.ppf(alpha / 2, positives, n - positives + 1), 0.0)
        high = np.where(positives < n,
                        stats.beta.ppf(1 - alpha / 2, positives + 1, n - positives), 1.0)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
