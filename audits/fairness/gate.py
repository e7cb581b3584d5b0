"""The CI gate: which rows of a fairness audit fail a rule.

``fairpanel audit --fail-on RULE`` exits 1 when :func:`violates` is true.

By default a gate reads intervals, not point estimates: the gates given together are one
family (:mod:`audits.fairness.family`), and every comparison they read gets a
simultaneous interval at the audit's level, so a fair system fails some gate with
probability at most ``1 - level``. A summary such as the impact ratio is bounded by the
pairwise intervals of all groups of its slice, which covers although the summary is an
extreme of noisy rates. ``on="point"`` judges the point estimate instead: the number a
regulation such as NYC Local Law 144 prints, read without its uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from audits.fairness.disparities import NAMED_SUMMARIES
from audits.fairness.family import (
    Inference,
    family_size,
    family_z,
    pair_interval,
    summary_interval,
)
from audits.fairness.result import FairnessAudit
from audits.fairness.verdicts import FAIL, INSUFFICIENT, Rule, judge, parse_rule

__all__ = ["GATE_ON", "gate_table", "violates", "violations"]

#: What a gate can judge: the simultaneous interval (default) or the point estimate.
GATE_ON = ("interval", "point")

MSG_GATE_ON = "on must be one of {choices}, got {value!r}"
MSG_NO_INFERENCE = "this audit keeps no inference data; rerun it with audit_fairness"


def gate_table(audit: FairnessAudit, rule: Rule | str, *,
               family: Sequence[Rule | str] | None = None,
               on: str = "interval") -> pd.DataFrame:
    """Every row a gate rule reads, with its gate verdict.

    Parameters
    ----------
    audit : FairnessAudit
    rule : Rule or str
        A rule, or its text for :func:`parse_rule`.
    family : sequence of Rule or str, or None
        The gates judged together (the rule is added if missing); their comparisons
        share one Bonferroni family. Default: the rule alone.
    on : {"interval", "point"}, default "interval"
        Judge the simultaneous interval, or the point estimate.

    Returns
    -------
    pandas.DataFrame
        The rows of ``audit.summaries`` (summary rules) or of ``audit.disparities``
        (metric rules) with ``gate_verdict``, ``gate_low``, ``gate_high`` (the interval
        judged; the point twice with ``on="point"``), ``gate_on``, ``gate_family_size``
        and ``judgeable`` (enough data for a pass or fail).

    Examples
    --------
    >>> from audits.fairness.audit import audit_fairness
    >>> df = pd.DataFrame({"y": [1, 0] * 500, "p": [1] * 300 + [0] * 200 + [1] * 100
    ...                    + [0] * 400, "s": ["a"] * 500 + ["b"] * 500})
    >>> audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="s",
    ...                        n_boot=200)
    >>> gate_table(audit, "impact_ratio<0.8")[["slice", "gate_verdict", "gate_family_size"]]
      slice gate_verdict  gate_family_size
    0     s         fail                 1
    """
    if on not in GATE_ON:
        raise ValueError(MSG_GATE_ON.format(choices=", ".join(GATE_ON), value=on))
    gate = _rule(rule)
    gates = [_rule(r) for r in (family or [])]
    if gate not in gates:
        gates.append(gate)
    inf = audit.inference
    if inf is None:
        raise ValueError(MSG_NO_INFERENCE)
    size = family_size(inf, gates)
    z = family_z(size, inf.level)
    if gate.summary is not None:
        table = audit.summaries[audit.summaries["summary"] == gate.summary].copy()
        low, high = _summary_bounds(audit, inf, table, gate.summary, z, on)
        judgeable = (table["n_groups"].to_numpy() >= 2) & np.isfinite(table["value"].to_numpy())
    else:
        d = audit.disparities
        table = d[d["metric"].map(gate.applies_to).astype(bool)].copy()
        low, high = _disparity_bounds(inf, table, gate.statistic, z, on)
        judgeable = table["eligible"].to_numpy(dtype=bool)
    verdict = judge(low, high, gate)
    judgeable = judgeable & ~np.isnan(low) & ~np.isnan(high)
    table["gate_verdict"] = np.where(judgeable, verdict, INSUFFICIENT)
    table["gate_low"], table["gate_high"] = low, high
    table["gate_on"] = on
    table["gate_family_size"] = size
    table["judgeable"] = judgeable
    return table.reset_index(drop=True)


def violations(audit: FairnessAudit, rule: Rule | str, *, insufficient_fails: bool = False,
               family: Sequence[Rule | str] | None = None,
               on: str = "interval") -> pd.DataFrame:
    """Rows of an audit that a gate rule judges as failing (see :func:`gate_table`).

    Parameters
    ----------
    audit : FairnessAudit
    rule : Rule or str
        A rule, or its text for :func:`parse_rule`.
    insufficient_fails : bool, default False
        Also count insufficient evidence as failing (a stricter gate).
    family, on
        See :func:`gate_table`.

    Returns
    -------
    pandas.DataFrame
        The failing rows of ``audit.summaries`` (summary rules) or of
        ``audit.disparities`` (metric rules), with a ``gate_verdict`` column.

    Examples
    --------
    >>> from audits.fairness.audit import audit_fairness
    >>> df = pd.DataFrame({"y": [1, 0] * 500, "p": [1] * 300 + [0] * 200 + [1] * 100
    ...                    + [0] * 400, "s": ["a"] * 500 + ["b"] * 500})
    >>> audit = audit_fairness(df, y_true="y", y_pred="p", sensitive_features="s",
    ...                        n_boot=200)
    >>> violations(audit, "impact_ratio<0.8")[["slice", "value", "gate_verdict"]]
      slice     value gate_verdict
    0     s  0.333333         fail
    """
    table = gate_table(audit, rule, family=family, on=on)
    failing = {FAIL, INSUFFICIENT} if insufficient_fails else {FAIL}
    return table[table["gate_verdict"].isin(failing)].reset_index(drop=True)


def violates(audit: FairnessAudit, rule: Rule | str, *, insufficient_fails: bool = False,
             family: Sequence[Rule | str] | None = None, on: str = "interval") -> bool:
    """Whether any row of an audit fails a gate rule (see :func:`violations`).

    Examples
    --------
    >>> from audits.fairness.audit import audit_fairness
    >>> df = pd.DataFrame({"y": [1, 0] * 100, "p": [1, 0, 0, 1] * 50, "s": ["a", "b"] * 100})
    >>> violates(audit_fairness(df, y_true="y", y_pred="p", sensitive_features="s",
    ...                         n_boot=200), "impact_ratio<0.8")
    False
    """
    return len(violations(audit, rule, insufficient_fails=insufficient_fails, family=family,
                          on=on)) > 0


def _rule(rule: Rule | str) -> Rule:
    return parse_rule(rule) if isinstance(rule, str) else rule


def _summary_bounds(audit: FairnessAudit, inf: Inference, table: pd.DataFrame, summary: str,
                    z: float, on: str) -> tuple[np.ndarray, np.ndarray]:
    values = table["value"].to_numpy(dtype=np.float64)
    if on == "point":
        return values, values.copy()
    basis, kind = next((b, k) for name, b, k in NAMED_SUMMARIES if name == summary)
    index = {" & ".join(s): i for i, s in enumerate(audit.counts.slices)}
    low, high = np.full(len(table), np.nan), np.full(len(table), np.nan)
    for row, label in enumerate(table["slice"]):
        low[row], high[row], _ = summary_interval(inf, index[label], basis, kind, z=z)
    return low, high


def _disparity_bounds(inf: Inference, table: pd.DataFrame, statistic: str, z: float,
                      on: str) -> tuple[np.ndarray, np.ndarray]:
    if on == "point":
        values = table[statistic].to_numpy(dtype=np.float64)
        return values, values.copy()
    low, high = np.full(len(table), np.nan), np.full(len(table), np.nan)
    metrics = table["metric"].to_numpy()
    for metric in pd.unique(metrics):
        rows = np.flatnonzero(metrics == metric)
        low[rows], high[rows] = pair_interval(
            inf, str(metric), table["group_id"].to_numpy()[rows],
            table["reference_id"].to_numpy()[rows], statistic=statistic, z=z)
    return low, high

