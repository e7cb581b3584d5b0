"""Decision thresholds on a score: every metric per group as a function of the threshold.

Read from the per-group score histograms of :class:`~audits.fairness.counts.GroupCounts`, with
no further pass over the rows: the decision at threshold ``t`` is ``score >= t``. When
the histogram is exact (one bin per distinct score) every threshold is exact. With
equal-width bins a threshold is moved up to the next bin edge, and the table reports
the threshold actually used.

A model retrained under a fairness constraint does not decide by one threshold: each
group of one sensitive feature has its own (randomised) rule
(:mod:`audits.models.group_thresholds`). One global threshold on its scores describes
another model, not the deployed one. :func:`group_threshold_curves` explores the deployed
rules instead: every threshold of every group's rule moved by the same offset, with the
same random draws, so at offset 0 the decisions are the deployed ones and every metric
equals the audit's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from audits.fairness.counts import CELLS, GroupCounts, count_groups
from audits.fairness.disparities import Reference, compare, fixed_references
from audits.fairness.metrics import CONFUSION_METRICS, confusion_metrics
from audits.models.group_thresholds import apply_thresholds, check_spec

__all__ = ["DEFAULT_OFFSETS", "group_threshold_curves", "rule_sentence", "shift_rules",
           "threshold_curves", "threshold_effects"]

#: Offsets explored by default: -0.30 to 0.30 in steps of 0.01 (on a probability score).
DEFAULT_OFFSETS: tuple[float, ...] = tuple(round(x / 100, 2) for x in range(-30, 31))
MSG_NO_ZERO = "offsets must include 0 (the deployed rules); got {value!r}"

MSG_NO_SCORES = "threshold analysis needs score histograms; pass y_score when counting"
MSG_MAX_THRESHOLDS = "max_thresholds must be an integer >= 2, got {value!r}"


def threshold_curves(
    counts: GroupCounts,
    *,
    thresholds: Sequence[float] | None = None,
    metrics: Sequence[str] | None = None,
    reference: Reference = None,
    max_thresholds: int = 101,
) -> pd.DataFrame:
    """Each confusion metric of each group at each decision threshold.

    Parameters
    ----------
    counts : GroupCounts
        Counts with score histograms.
    thresholds : sequence of float or None, default None
        Thresholds to evaluate; by default every bin edge, or ``max_thresholds`` of
        them evenly spread over the bins.
    metrics : sequence of str or None, default None
        Confusion metrics (all by default).
    reference : "largest", mapping or None, default None
        Reference group of each slice for the ``difference`` and ``ratio`` columns (see
        :func:`audits.fairness.disparities.fixed_references`). ``"best"`` is per metric and
        threshold, so it is read as the largest group here.
    max_thresholds : int, default 101

    Returns
    -------
    pandas.DataFrame
        ``group_id, slice, group_label, threshold, metric, value, reference_id,
        difference, ratio`` (against the reference group's value at the same threshold).
        ``threshold`` is the one used (``inf``: above every score).

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "s": list("aabb"),
    ...                    "score": [0.2, 0.8, 0.6, 0.4]})
    >>> c = count_groups(df, y_true="y", y_pred=None, sensitive_features="s",
    ...                  y_score="score", threshold=0.5)
    >>> t = threshold_curves(c, thresholds=[0.5], metrics=["selection_rate"])
    >>> t[["group_label", "threshold", "value"]]
      group_label  threshold  value
    0           a        0.6    0.5
    1           b        0.6    0.5
    """
    hist = counts.scores
    if hist is None:
        raise ValueError(MSG_NO_SCORES)
    if isinstance(max_thresholds, bool) or not isinstance(max_thresholds, int) or (
        max_thresholds < 2
    ):
        raise ValueError(MSG_MAX_THRESHOLDS.format(value=max_thresholds))
    edges = hist.edges
    if thresholds is None:
        idx = np.arange(len(edges)) if len(edges) <= max_thresholds else np.unique(
            np.round(np.linspace(0, len(edges) - 1, max_thresholds)).astype(np.int64))
    else:
        idx = np.searchsorted(edges, np.asarray(thresholds, dtype=np.float64), side="left")
    used = np.append(edges, np.inf)[idx]
    cells = _cells_at(hist.counts, idx)  # (groups, thresholds, 4)
    names = list(CONFUSION_METRICS) if metrics is None else list(metrics)
    values = confusion_metrics(cells, metrics=names)
    ref = fixed_references(counts, reference)
    g = counts.groups
    n_g, n_t = cells.shape[:2]
    parts = []
    for name in names:
        diff, ratio = compare(values[name].T, ref)  # groups on the last axis
        parts.append(pd.DataFrame({
            "group_id": np.repeat(np.arange(n_g), n_t),
            "slice": np.repeat(g["slice"].to_numpy(), n_t),
            "group_label": np.repeat(g["group_label"].to_numpy(), n_t),
            "threshold": np.tile(used, n_g), "metric": name,
            "value": values[name].reshape(-1), "reference_id": np.repeat(ref, n_t),
            "difference": diff.T.reshape(-1), "ratio": ratio.T.reshape(-1),
        }))
    return pd.concat(parts, ignore_index=True)


def threshold_effects(
    counts: GroupCounts, threshold: float, *, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """What one threshold on the score does to every group, against the current decisions.

    Returns
    -------
    pandas.DataFrame
        ``group_id, slice, group_label, metric, current, at_threshold, change,
        threshold`` where ``current`` is read from the counted decisions (``y_pred``).

    Examples
    --------
    >>> from audits.fairness.counts import count_groups
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "p": [0, 1, 1, 1], "s": list("aabb"),
    ...                    "score": [0.2, 0.8, 0.6, 0.4]})
    >>> c = count_groups(df, y_true="y", y_pred="p", sensitive_features="s",
    ...                  y_score="score")
    >>> e = threshold_effects(c, 0.5, metrics=["false_positive_rate"])
    >>> e[["group_label", "current", "at_threshold", "change"]]
      group_label  current  at_threshold  change
    0           a      0.0           0.0     0.0
    1           b      1.0           0.0    -1.0
    """
    names = list(CONFUSION_METRICS) if metrics is None else list(metrics)
    curve = threshold_curves(counts, thresholds=[threshold], metrics=names)
    current = confusion_metrics(counts.groups.loc[:, list(CELLS)].to_numpy(), metrics=names)
    now = np.concatenate([current[name] for name in names])
    return pd.DataFrame({
        "group_id": curve["group_id"].to_numpy(), "slice": curve["slice"].to_numpy(),
        "group_label": curve["group_label"].to_numpy(), "metric": curve["metric"].to_numpy(),
        "current": now, "at_threshold": curve["value"].to_numpy(),
        "change": curve["value"].to_numpy() - now, "threshold": curve["threshold"].to_numpy(),
    })


def rule_sentence(rule: dict[str, object]) -> str:
    """Return a group's randomised rule in words.

    Examples
    --------
    >>> rule_sentence({"p0": 0.25, "operator0": ">", "threshold0": 0.41, "p1": 0.75,
    ...                "operator1": ">", "threshold1": 0.38})
    'with probability 0.25: score > 0.410; else (0.75): score > 0.380'
    >>> rule_sentence({"p0": 1.0, "operator0": ">", "threshold0": 0.5, "p1": 0.0,
    ...                "operator1": ">", "threshold1": "inf"})
    'score > 0.500'
    """
    def part(i: int) -> str:
        t = float(rule[f"threshold{i}"])  # type: ignore[arg-type]
        if not np.isfinite(t):
            return "never" if (t > 0) == (rule[f"operator{i}"] == ">") else "always"
        return f"score {rule[f'operator{i}']} {t:.3f}"
    p0 = float(rule["p0"])  # type: ignore[arg-type]
    text = part(0) if p0 == 1.0 else part(1) if p0 == 0.0 else (
        f"with probability {p0:.2f}: {part(0)}; else ({1 - p0:.2f}): {part(1)}")
    if "p_ignore" in rule:
        text += (f"; but with probability {float(rule['p_ignore']):.2f} "  # type: ignore[arg-type]
                 f"positive with probability {float(rule['prediction_constant']):.2f}")  # type: ignore[arg-type]
    return text


def shift_rules(rules: dict[str, dict[str, object]], offset: float) -> dict[str, dict[str, object]]:
    """Return group rules with every threshold moved by ``offset`` (infinite ones kept).

    Examples
    --------
    >>> rule = {"p0": 0.5, "operator0": ">", "threshold0": 0.4, "p1": 0.5,
    ...         "operator1": ">", "threshold1": "inf"}
    >>> shifted = shift_rules({"a": rule}, 0.1)["a"]
    >>> round(shifted["threshold0"], 2), shifted["threshold1"]
    (0.5, 'inf')
    """
    out = {}
    for group, rule in check_spec(rules).items():
        moved = dict(rule)
        for key in ("threshold0", "threshold1"):
            value = float(rule[key])
            moved[key] = rule[key] if not np.isfinite(value) else value + float(offset)
        out[group] = moved
    return out


def group_threshold_curves(
    frame: pd.DataFrame,
    *,
    y_true: str,
    y_score: str,
    sensitive_features: Sequence[str],
    rules: dict[str, dict[str, object]],
    rule_feature: str,
    random_state: int,
    offsets: Sequence[float] = DEFAULT_OFFSETS,
    metrics: Sequence[str] | None = None,
    intersections: bool = True,
    reference: Reference = None,
) -> pd.DataFrame:
    """Each confusion metric of each group as a model's per-group rules move together.

    At each offset every threshold of every group's rule is moved by it
    (:func:`shift_rules`) and the rows are decided by :func:`apply_thresholds` with the
    model's ``random_state``, as the deployed model decides; offset 0 gives the deployed
    decisions exactly, so its metrics equal the audit's.

    Parameters
    ----------
    frame : pandas.DataFrame
        The audited decisions: ``y_true``, ``y_score`` (the model's probabilities), the
        sensitive features, and ``rule_feature``.
    y_true, y_score : str
    sensitive_features : sequence of str
        As audited; groups are counted as :func:`count_groups` counts them.
    rules : mapping
        The model's group rules (``params["thresholds"]``).
    rule_feature : str
        The sensitive feature the rules are keyed by (``params["sensitive_feature"]``).
    random_state : int
        The model's seed of the randomised rules (``params["random_state"]``).
    offsets : sequence of float, default :data:`DEFAULT_OFFSETS`
        Must include 0.
    metrics : sequence of str or None
        Confusion metrics (all by default).
    intersections : bool, default True
    reference : "largest", mapping or None
        As for :func:`threshold_curves`.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`threshold_curves` with ``offset`` in place of ``threshold``
        (and ``threshold`` holding the offset too, for tables keyed on it).

    Examples
    --------
    >>> rule = {"p0": 1.0, "operator0": ">", "threshold0": 0.5, "p1": 0.0,
    ...         "operator1": ">", "threshold1": "inf"}
    >>> df = pd.DataFrame({"y": [0, 1, 1, 0], "s": list("aabb"),
    ...                    "score": [0.2, 0.8, 0.6, 0.4]})
    >>> t = group_threshold_curves(df, y_true="y", y_score="score", sensitive_features=["s"],
    ...     rules={"a": rule, "b": rule}, rule_feature="s", random_state=0,
    ...     offsets=[0.0, 0.25], metrics=["selection_rate"])
    >>> t[["group_label", "offset", "value"]].values.tolist()
    [['a', 0.0, 0.5], ['a', 0.25, 0.5], ['b', 0.0, 0.5], ['b', 0.25, 0.0]]
    """
    offsets = [float(o) for o in offsets]
    if 0.0 not in offsets:
        raise ValueError(MSG_NO_ZERO.format(value=offsets))
    names = list(CONFUSION_METRICS) if metrics is None else list(metrics)
    scores = frame[y_score].to_numpy(dtype=np.float64)
    cells, counts = [], None
    for offset in offsets:
        decided = apply_thresholds(scores, frame[rule_feature], shift_rules(rules, offset),
                                   random_state=random_state)
        counts = count_groups(frame.assign(**{"__decision": decided}), y_true=y_true,
                              y_pred="__decision", sensitive_features=list(sensitive_features),
                              intersections=intersections)
        cells.append(counts.groups.loc[:, list(CELLS)].to_numpy())
    assert counts is not None  # offsets holds 0, so at least one
    stacked = np.stack(cells, axis=1)  # (groups, offsets, 4)
    values = confusion_metrics(stacked, metrics=names)
    ref = fixed_references(counts, reference)
    g = counts.groups
    n_g, n_t = stacked.shape[:2]
    parts = []
    for name in names:
        diff, ratio = compare(values[name].T, ref)
        parts.append(pd.DataFrame({
            "group_id": np.repeat(np.arange(n_g), n_t),
            "slice": np.repeat(g["slice"].to_numpy(), n_t),
            "group_label": np.repeat(g["group_label"].to_numpy(), n_t),
            "offset": np.tile(offsets, n_g), "threshold": np.tile(offsets, n_g),
            "metric": name, "value": values[name].reshape(-1),
            "reference_id": np.repeat(ref, n_t),
            "difference": diff.T.reshape(-1), "ratio": ratio.T.reshape(-1),
        }))
    return pd.concat(parts, ignore_index=True)


def _cells_at(hist: np.ndarray, idx: np.ndarray) -> np.ndarray:
    neg, pos = hist[:, 0, :], hist[:, 1, :]
    zero = np.zeros((len(hist), 1), dtype=np.int64)
    pos_at = np.concatenate([np.cumsum(pos[:, ::-1], axis=1)[:, ::-1], zero], axis=1)
    neg_at = np.concatenate([np.cumsum(neg[:, ::-1], axis=1)[:, ::-1], zero], axis=1)
    tp, fp = pos_at[:, idx], neg_at[:, idx]
    fn = pos.sum(axis=1)[:, None] - tp
    tn = neg.sum(axis=1)[:, None] - fp
    return np.stack([tp, fp, fn, tn], axis=-1)
