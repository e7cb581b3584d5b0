"""What the live stream of a system's decisions looks like: volume, holds, time to a
person's decision, service-level breaches, the budget, and holds and overrides by group.

:func:`live_overview` reads stored live decisions (records, no I/O) and returns the
figures the "Live decisions" page shows. Rates by group carry Wilson intervals, as the
monitoring of batches does: the held rate (how often the system's decisions about a
group wait for a person) and the override rate (how often a person changed the model's
decision, among the decisions a person decided).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audits.fairness.intervals import wilson_interval
from audits.store.live import LiveDecisionRecord

__all__ = ["GROUP_COLUMNS", "LiveOverview", "group_label", "live_overview"]

GROUP_COLUMNS = ("group", "n", "held", "held_rate", "held_low", "held_high",
                 "decided_by_person", "overridden", "override_rate", "override_low",
                 "override_high")
#: How a decision a person decided is recorded (reviewers agreeing, or the lead).
PERSON = ("reviewers", "adjudication")


@dataclass(frozen=True)
class LiveOverview:
    """The live stream's figures (see the module)."""

    n: int
    n_held: int
    n_pending: int
    n_unreviewed_budget: int
    n_escalated: int
    n_fallback: int
    per_hour: pd.DataFrame
    held_by_reason: pd.DataFrame
    time_to_person_s: dict[str, float | int | None]
    by_group: pd.DataFrame


def group_label(sensitive: dict[str, object], attribute: str | None = None) -> str:
    """A decision's group: ``"sex=F & age=30-44"``, or one attribute's part.

    Examples
    --------
    >>> group_label({"sex": "F", "age": "30-44"}), group_label({"sex": "F"}, "sex")
    ('age=30-44 & sex=F', 'sex=F')
    """
    if attribute is not None:
        return f"{attribute}={sensitive.get(attribute, '(missing)')}"
    return " & ".join(f"{k}={sensitive[k]}" for k in sorted(sensitive)) or "(no group)"


def live_overview(records: Sequence[LiveDecisionRecord], *, attribute: str | None = None,
                  level: float = 0.95) -> LiveOverview:
    """Summarise a system's live decisions (see the module).

    Examples
    --------
    >>> live_overview([]).n
    0
    """
    n = len(records)
    frame = pd.DataFrame({
        "created_at": [r.created_at for r in records],
        "held": [r.outcome == "held" for r in records],
        "status": [r.status for r in records],
        "how": [r.decided_how for r in records],
        "changed": [r.changed for r in records],
        "reason": [r.reasons[0]["reason"] if r.reasons and r.outcome == "held" else None
                   for r in records],
        "group": [group_label(r.sensitive, attribute) for r in records],
        "wait_s": [(r.decided_at - r.created_at).total_seconds()
                   if r.decided_at is not None and r.decided_how in PERSON else np.nan
                   for r in records],
    })
    per_hour = (frame.assign(hour=pd.to_datetime(frame["created_at"], utc=True)
                             .dt.floor("h"))
                .groupby("hour").agg(decisions=("held", "size"), held=("held", "sum"))
                .reset_index() if n else pd.DataFrame(columns=["hour", "decisions", "held"]))
    held = frame.loc[frame["held"].astype(bool)]
    reasons = held["reason"].value_counts()
    held_by_reason = pd.DataFrame({"reason": reasons.index.astype(str),
                                   "n": reasons.to_numpy(dtype=int),
                                   "share": (reasons / max(len(held), 1)).to_numpy()})
    waits = frame["wait_s"].dropna()
    held_by_reason = held_by_reason.astype({"reason": object})
    time_to_person = {"n": int(len(waits)),
                      "median_s": float(waits.median()) if len(waits) else None,
                      "p95_s": float(waits.quantile(0.95)) if len(waits) else None}
    return LiveOverview(
        n=n, n_held=int(frame["held"].sum()) if n else 0,
        n_pending=int((frame["status"] == "pending").sum()) if n else 0,
        n_unreviewed_budget=sum(r.unreviewed == "budget" for r in records),
        n_escalated=sum(r.escalated_at is not None for r in records),
        n_fallback=int((frame["how"] == "fallback").sum()) if n else 0,
        per_hour=per_hour, held_by_reason=held_by_reason,
        time_to_person_s=time_to_person, by_group=_by_group(frame, level))


def _by_group(frame: pd.DataFrame, level: float) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=list(GROUP_COLUMNS))
    person = frame["how"].isin(PERSON)
    table = pd.DataFrame({
        "n": frame.groupby("group").size(),
        "held": frame.groupby("group")["held"].sum().astype(int),
        "decided_by_person": person.groupby(frame["group"]).sum().astype(int),
        "overridden": (person & frame["changed"].eq(True)).groupby(frame["group"]).sum()
                      .astype(int),
    }).reset_index()
    held_low, held_high = wilson_interval(table["held"].to_numpy(), table["n"].to_numpy(),
                                          level=level)
    over_low, over_high = wilson_interval(table["overridden"].to_numpy(),
                                          table["decided_by_person"].to_numpy(), level=level)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["held_rate"] = table["held"] / table["n"]
        table["override_rate"] = np.where(table["decided_by_person"] > 0,
                                          table["overridden"] / table["decided_by_person"],
                                          np.nan)
    table["held_low"], table["held_high"] = held_low, held_high
    table["override_low"], table["override_high"] = over_low, over_high
    return table[list(GROUP_COLUMNS)].sort_values("held_rate", ascending=False,
                                                  ignore_index=True)
