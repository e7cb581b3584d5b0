"""Compare two stored fairness audit runs: what moved, and which verdicts changed.

The interval of a difference between the runs is approximate: each run's interval is
read as a normal interval of half-width ``h`` and the runs as independent, so the delta's
half-width is ``sqrt(h_a**2 + h_b**2)``. Runs of the same data are not independent (the
bootstrap replicates differ, the rows do not), so for reruns this interval is wide; it is
meant to separate real movement from resampling noise, not as an exact test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from audits.reports.report import fairness_run
from audits.reports.sections import group_label, metric_label
from audits.roles import Actor, require_role
from audits.store import Store

__all__ = ["COLUMNS", "compare_runs", "what_changed"]

COLUMNS = ("metric", "group", "reference", "a_value", "a_ci_low", "a_ci_high", "b_value",
           "b_ci_low", "b_ci_high", "delta", "delta_ci_low", "delta_ci_high", "a_verdict",
           "b_verdict", "changed")
#: Largest interval-excluding-zero deltas stated by :func:`what_changed`.
TOP_DELTAS = 5
MSG_COLUMNS = "table lacks column(s) {missing}; pass the frame compare_runs returns"


def compare_runs(store: Store, actor: Actor, run_a: int, run_b: int) -> pd.DataFrame:
    """Return every disparity ratio and group metric present in both runs, side by side.

    Parameters
    ----------
    store : Store
    actor : Actor
        Needs "read panel aggregates".
    run_a, run_b : int
        Completed fairness audit runs; ``delta = b - a``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; ``metric`` is a group metric (``"selection_rate"``) or a
        disparity ratio (``"selection_rate_ratio"``, with its ``reference``; group
        metrics have ``reference`` None and no verdict). The delta interval is the normal
        approximation described in the module docstring. ``changed`` is True where the
        verdicts differ.

    Raises
    ------
    LookupError, ValueError
        As for :func:`audits.reports.report.build_report`.

    Examples
    --------
    >>> with Store("sqlite://") as store:
    ...     compare_runs(store, Actor.system(), 1, 2)
    Traceback (most recent call last):
    ...
    LookupError: no audit run with id 1
    """
    require_role(actor, "read panel aggregates")
    a = _estimates(fairness_run(store, run_a).results or {})
    b = _estimates(fairness_run(store, run_b).results or {})
    rows = []
    for key in (k for k in a if k in b):
        (av, averdict), (bv, bverdict) = a[key], b[key]
        delta, half = _delta(av, bv)
        rows.append({"metric": key[0], "group": key[1], "reference": key[2],
                     "a_value": av.get("value"), "a_ci_low": av.get("ci_low"),
                     "a_ci_high": av.get("ci_high"), "b_value": bv.get("value"),
                     "b_ci_low": bv.get("ci_low"), "b_ci_high": bv.get("ci_high"),
                     "delta": delta, "delta_ci_low": _minus(delta, half),
                     "delta_ci_high": _minus(delta, -half if half is not None else None),
                     "a_verdict": averdict, "b_verdict": bverdict,
                     "changed": averdict != bverdict})
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in COLUMNS[3:12]:
        frame[column] = frame[column].astype(float)
    return frame.astype({"changed": bool})


def what_changed(table: pd.DataFrame) -> list[str]:
    """Return plain sentences: verdict changes first, then the largest clear deltas.

    Raises
    ------
    ValueError
        ``table`` lacks a column of :data:`COLUMNS` (:data:`MSG_COLUMNS`).

    Examples
    --------
    >>> row = dict(metric="selection_rate_ratio", group="sex=F", reference="sex=M",
    ...            a_value=0.9, b_value=0.7, delta=-0.2, delta_ci_low=-0.3,
    ...            delta_ci_high=-0.1, a_verdict="pass", b_verdict="fail", changed=True)
    >>> what_changed(pd.DataFrame([row]).reindex(columns=list(COLUMNS)))[0]
    'Selection rate ratio of sex=F to sex=M: verdict changed from pass to fail (0.900 -> 0.700).'
    """
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(MSG_COLUMNS.format(missing=", ".join(missing)))
    sentences = [f"{_name(r)}: verdict changed from {r['a_verdict']} to {r['b_verdict']} "
                 f"({r['a_value']:.3f} -> {r['b_value']:.3f})."
                 for _, r in table[table["changed"].astype(bool)].iterrows()]
    clear = table[(table["delta_ci_low"] > 0) | (table["delta_ci_high"] < 0)]
    clear = clear.reindex(clear["delta"].abs().sort_values(ascending=False,
                                                           kind="stable").index)
    for _, r in clear.head(TOP_DELTAS).iterrows():
        sentences.append(f"{_name(r)} moved by {r['delta']:+.3f} [approximate 95% CI "
                         f"{r['delta_ci_low']:+.3f}, {r['delta_ci_high']:+.3f}] "
                         f"({r['a_value']:.3f} -> {r['b_value']:.3f}).")
    if len(clear) > TOP_DELTAS:
        sentences.append(f"{len(clear) - TOP_DELTAS} further differences exclude zero.")
    return sentences or ["No verdict changed and no difference is distinguishable from zero."]


Key = tuple[str, str, str | None]


def _estimates(results: Mapping[str, Any]) -> dict[Key, tuple[dict[str, Any], str | None]]:
    out: dict[Key, tuple[dict[str, Any], str | None]] = {}
    for d in results.get("disparities", []):
        out[(f"{d['metric']}_ratio", group_label(d["attributes"]),
             group_label(d["reference"]))] = (dict(d.get("ratio") or {}), d.get("verdict"))
    for g in results.get("groups", []):
        for metric, estimate in g.get("metrics", {}).items():
            out[(metric, group_label(g["attributes"]), None)] = (dict(estimate or {}), None)
    return out


def _delta(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[float | None, float | None]:
    if a.get("value") is None or b.get("value") is None:
        return None, None
    delta = float(b["value"]) - float(a["value"])
    halves = [_half(a), _half(b)]
    if any(h is None for h in halves):
        return delta, None
    return delta, math.sqrt(sum(h * h for h in halves if h is not None))


def _half(e: Mapping[str, Any]) -> float | None:
    lo, hi = e.get("ci_low"), e.get("ci_high")
    return None if lo is None or hi is None else (float(hi) - float(lo)) / 2


def _minus(value: float | None, half: float | None) -> float | None:
    return None if value is None or half is None else value - half


def _name(r: Mapping[str, Any]) -> str:
    metric = str(r["metric"])
    if metric.endswith("_ratio") and r.get("reference"):
        return (f"{metric_label(metric[:-6])} ratio of {r['group']} to {r['reference']}")
    return f"{metric_label(metric)} of {r['group']}"
