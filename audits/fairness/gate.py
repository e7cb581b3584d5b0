"""The CI gate: which rows of a fairness audit fail a rule.

``fairpanel audit --fail-on RULE`` exits 1 when :func:`violates` is true.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audits.fairness.result import FairnessAudit
from audits.fairness.verdicts import FAIL, INSUFFICIENT, Rule, judge, parse_rule

__all__ = ["violates", "violations"]


def violations(audit: FairnessAudit, rule: Rule | str, *,
               insufficient_fails: bool = False) -> pd.DataFrame:
    """Rows of an audit that a gate rule judges as failing.

    Parameters
    ----------
    audit : FairnessAudit
    rule : Rule or str
        A rule, or its text for :func:`parse_rule`.
    insufficient_fails : bool, default False
        Also count insufficient evidence as failing (a stricter gate).

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
    gate = parse_rule(rule) if isinstance(rule, str) else rule
    if gate.summary is not None:
        table = audit.summaries[audit.summaries["summary"] == gate.summary].copy()
        verdict = judge(table["ci_low"].to_numpy(), table["ci_high"].to_numpy(), gate)
    else:
        d = audit.disparities
        table = d[d["metric"].map(gate.applies_to).astype(bool)].copy()
        verdict = judge(table[f"{gate.statistic}_ci_low"].to_numpy(),
                        table[f"{gate.statistic}_ci_high"].to_numpy(), gate)
        verdict = np.where(table["eligible"].to_numpy(dtype=bool), verdict, INSUFFICIENT)
    table["gate_verdict"] = verdict
    failing = {FAIL, INSUFFICIENT} if insufficient_fails else {FAIL}
    return table[table["gate_verdict"].isin(failing)].reset_index(drop=True)


def violates(audit: FairnessAudit, rule: Rule | str, *, insufficient_fails: bool = False) -> bool:
    """Whether any row of an audit fails a gate rule (see :func:`violations`).

    Examples
    --------
    >>> from audits.fairness.audit import audit_fairness
    >>> df = pd.DataFrame({"y": [1, 0] * 100, "p": [1, 0, 0, 1] * 50, "s": ["a", "b"] * 100})
    >>> violates(audit_fairness(df, y_true="y", y_pred="p", sensitive_features="s",
    ...                         n_boot=200), "impact_ratio<0.8")
    False
    """
    return len(violations(audit, rule, insufficient_fails=insufficient_fails)) > 0
