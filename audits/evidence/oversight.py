"""The human-oversight record: every decision a person touched, and what that says.

Per touch (a rating, a "cannot tell" answer, an adjudication): the case and its
snapshot's sha256, the model's decision and threshold, what the person saw (the model's
decision shown or hidden), who they are (role, and the training, competence and
authority recorded for them that held on that day), what they did, why, when and for how
long. Actions:

- ``accept``: the reviewer's label equals the model's decision;
- ``override``: it differs;
- ``cannot_tell``: the reviewer said the case cannot be decided from what it shows;
- ``adjudicate``: the final decision of a case escalated to adjudication.

fairpanel escalates a case by itself, to a panel lead, when its reviewers disagree or
none of them could tell; the per-decision table says which cases were escalated.

Aggregates answer EU AI Act Art. 14(4): override rates by reviewer and by subject group
(Wilson intervals), signs of rubber-stamping (many very short reviews; near-total
agreement with a shown suggestion), agreement between reviewers (Krippendorff's alpha,
AC1, percent agreement, from :mod:`audits.raters.agreement`) and automation bias (how
much showing the model's decision raises agreement with it, from
:mod:`audits.raters.automation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from audits.fairness.intervals import wilson_interval
from audits.fairness.stored import json_safe
from audits.raters.agreement import AgreementSummary, agreement_summary
from audits.raters.automation import AutomationEffect, automation_bias
from audits.roles import Actor, require_role
from audits.store import Store
from audits.store.qualifications import QualificationRecord

__all__ = ["FAST_SECONDS", "MIN_RATINGS", "STAMP_AGREEMENT", "OversightRecord",
           "oversight_record", "touch_action"]

#: A review shorter than this many seconds is "very short".
FAST_SECONDS = 10.0
#: Agreement with the shown suggestion at or above this share is "near-total".
STAMP_AGREEMENT = 0.98
#: A reviewer's signs are read only over at least this many ratings.
MIN_RATINGS = 20
#: A rubber-stamping sign: at least this share of a reviewer's reviews is very short.
FAST_SHARE = 0.5
MSG_UNKNOWN_RUN = "no audit run with id {id}"

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class OversightRecord:
    """The human-oversight record of one audit run.

    Attributes
    ----------
    touches : pandas.DataFrame
        One row per touch (see the module docstring), with ``action`` and
        ``qualifications`` (the titles held then, ``"kind: title"``, ``"; "``-joined).
    decisions : pandas.DataFrame
        One row per case a person touched: the model's decision, the final one, the
        touches and actions, whether it was escalated, first and last time.
    by_reviewer, by_group : pandas.DataFrame
        Override rates with Wilson intervals, and (by reviewer) the rubber-stamping
        signs: ``fast_share``, ``agree_shown``, ``agree_hidden``, ``signs``.
    agreement : AgreementSummary or None
    automation : AutomationEffect or None
    notes : tuple of str
        Why a statistic was not computed.
    """

    audit_run_id: int
    touches: pd.DataFrame
    decisions: pd.DataFrame
    by_reviewer: pd.DataFrame
    by_group: pd.DataFrame
    agreement: AgreementSummary | None
    automation: AutomationEffect | None
    notes: tuple[str, ...]

    @property
    def unqualified(self) -> pd.DataFrame:
        """Reviews by a reviewer with no training or competence on record that day."""
        t = self.touches
        if t.empty:
            return t
        return t[(t["touch"] != "adjudication") & (t["qualifications"] == "")]

    @property
    def rubber_stamping(self) -> list[str]:
        """The reviewers with a rubber-stamping sign."""
        r = self.by_reviewer
        return [] if r.empty else sorted(r.loc[r["signs"] != "", "username"].tolist())

    def summary(self) -> dict[str, Any]:
        """The headline figures, JSON-safe."""
        t = self.touches
        rated = t[t["action"].isin(["accept", "override"])] if not t.empty else t
        return {
            "audit_run_id": self.audit_run_id, "decisions": len(self.decisions),
            "touches": len(t),
            "reviewers": int(t.loc[t["touch"] != "adjudication", "username"].nunique())
            if len(t) else 0,
            "adjudications": int((t["touch"] == "adjudication").sum()) if len(t) else 0,
            "overrides": int((rated["action"] == "override").sum()) if len(t) else 0,
            "override_rate": json_safe(float((rated["action"] == "override").mean()))
            if len(rated) else None,
            "cannot_tell": int((t["action"] == "cannot_tell").sum()) if len(t) else 0,
            "escalated": int(self.decisions["escalated"].sum()) if len(self.decisions) else 0,
            "unqualified_reviews": len(self.unqualified),
            "rubber_stamping": self.rubber_stamping,
            "agreement": None if self.agreement is None else self.agreement.to_dict(),
            "automation_bias": None if self.automation is None else {
                k: json_safe(v) for k, v in vars(self.automation).items()},
            "notes": list(self.notes)}

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-safe: the summary and each table as a list of rows."""
        return {"summary": self.summary(),
                **{name: _rows(getattr(self, name))
                   for name in ("decisions", "touches", "by_reviewer", "by_group")}}


def touch_action(touch: str, label: Any, model_decision: Any) -> str:
    """Return what a touch did: accept, override, decide, cannot_tell or adjudicate.

    ``decide`` is a rating of a case with no model decision to accept or override.

    Examples
    --------
    >>> touch_action("rating", 1, 1), touch_action("rating", 0, 1)
    ('accept', 'override')
    >>> touch_action("cannot_tell", None, 1), touch_action("adjudication", 0, 1)
    ('cannot_tell', 'adjudicate')
    """
    if touch != "rating":
        return "adjudicate" if touch == "adjudication" else "cannot_tell"
    if model_decision is None or pd.isna(model_decision):
        return "decide"
    return "accept" if int(label) == int(model_decision) else "override"


def oversight_record(store: Store, actor: Actor, audit_run_id: int, *,
                     subject_attribute: str | None = None, n_boot: int = 1000,
                     random_state: int = 0, progress: Progress | None = None,
                     ) -> OversightRecord:
    """Build the human-oversight record of an audit run from the store.

    Requires "read the oversight record". ``subject_attribute`` (e.g. ``"sex"``)
    coarsens intersectional subject groups for the override rates by group.

    Raises
    ------
    LookupError
        No audit run has this id.
    """
    report = progress or (lambda fraction, message: None)
    require_role(actor, "read the oversight record")
    if store.get_audit_run(audit_run_id) is None:
        raise LookupError(MSG_UNKNOWN_RUN.format(id=audit_run_id))
    report(0.1, "Reading every touch of the panel")
    touches = pd.DataFrame(store.oversight_rows(actor, audit_run_id))
    notes: list[str] = []
    if touches.empty:
        return OversightRecord(audit_run_id, touches, pd.DataFrame(), pd.DataFrame(),
                               pd.DataFrame(), None, None,
                               ("no person has touched a case of this audit",))
    quals = store.qualifications(actor)
    touches["action"] = [touch_action(t, lab, m) for t, lab, m in zip(
        touches["touch"], touches["label"], touches["model_decision"], strict=True)]
    touches["qualifications"] = _held(touches, quals)
    if subject_attribute:
        touches["subject_group"] = touches["subject_group"].map(
            lambda g: _part(str(g), subject_attribute))
    report(0.4, "Agreement between reviewers")
    ratings = touches[touches["touch"] == "rating"]
    agreement = _agreement(ratings, n_boot, random_state, notes)
    report(0.7, "Automation bias")
    automation = _automation(ratings, n_boot, random_state, notes)
    report(1.0, "Oversight record ready")
    return OversightRecord(
        audit_run_id, touches, _decisions(touches), _by_reviewer(ratings, touches),
        _override_rates(ratings, "subject_group"), agreement, automation, tuple(notes))


def _held(touches: pd.DataFrame, quals: list[QualificationRecord]) -> list[str]:
    by_reviewer: dict[int, list[QualificationRecord]] = {}
    for q in quals:
        by_reviewer.setdefault(q.reviewer_id, []).append(q)
    out = []
    for reviewer, when in zip(touches["reviewer_id"], touches["decided_at"], strict=True):
        mine = [] if reviewer is None or pd.isna(reviewer) else by_reviewer.get(int(reviewer),
                                                                              [])
        out.append("; ".join(f"{q.kind}: {q.title}" for q in mine
                             if q.kind != "authority" and q.valid_at(when)))
    return out


def _decisions(t: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for case_id, g in t.groupby("case_id", sort=True):
        first = g.iloc[0]
        rows.append({
            "case_id": int(case_id), "row_key": first["row_key"],
            "snapshot_sha256": first["snapshot_sha256"],
            "subject_group": first["subject_group"], "reason": first["primary_reason"],
            "model_decision": first["model_decision"], "model_sha256": first["model_sha256"],
            "score": first["score"],
            "threshold": first["threshold"], "status": first["case_status"],
            "final_label": first["final_label"],
            "final_overrides_model": None if pd.isna(first["final_label"])
            or first["model_decision"] is None or pd.isna(first["model_decision"])
            else bool(int(first["final_label"]) != int(first["model_decision"])),
            "touches": len(g), "actions": ", ".join(g["action"].tolist()),
            "escalated": bool((g["touch"] == "adjudication").any()
                              or first["case_status"] == "disputed"),
            "first_at": g["started_at"].min(), "last_at": g["decided_at"].max()})
    return pd.DataFrame(rows)


def _override_rates(ratings: pd.DataFrame, by: str) -> pd.DataFrame:
    judged = ratings[ratings["action"].isin(["accept", "override"])]
    if judged.empty:
        return pd.DataFrame(columns=[by, "n", "overrides", "override_rate", "ci_low",
                                     "ci_high"])
    grouped = judged.groupby(by, sort=True)["action"]
    n = grouped.size()
    k = grouped.apply(lambda a: int((a == "override").sum()))
    low, high = wilson_interval(k.to_numpy(), n.to_numpy())
    return pd.DataFrame({by: n.index, "n": n.to_numpy(), "overrides": k.to_numpy(),
                         "override_rate": (k / n).to_numpy(), "ci_low": low,
                         "ci_high": high})


def _by_reviewer(ratings: pd.DataFrame, touches: pd.DataFrame) -> pd.DataFrame:
    table = _override_rates(ratings, "username")
    rows = []
    for name, g in touches[touches["touch"] != "adjudication"].groupby("username", sort=True):
        seconds = g["seconds_spent"].astype(float)
        shown = g[(g["model_shown"] == True) & g["action"].isin(["accept", "override"])]  # noqa: E712
        hidden = g[(g["model_shown"] == False) & g["action"].isin(["accept", "override"])]  # noqa: E712
        agree_shown = float((shown["action"] == "accept").mean()) if len(shown) else np.nan
        agree_hidden = float((hidden["action"] == "accept").mean()) if len(hidden) else np.nan
        fast = float((seconds < FAST_SECONDS).mean())
        signs = []
        if len(g) >= MIN_RATINGS and fast >= FAST_SHARE:
            signs.append(f"{fast:.0%} of reviews under {FAST_SECONDS:.0f} s")
        if len(shown) >= MIN_RATINGS and agree_shown >= STAMP_AGREEMENT:
            signs.append(f"agrees with the shown suggestion {agree_shown:.0%} of the time")
        rows.append({"username": name, "role": g["role"].iloc[0],
                     "reviews": len(g), "median_seconds": float(seconds.median()),
                     "fast_share": fast, "n_shown": len(shown), "agree_shown": agree_shown,
                     "n_hidden": len(hidden), "agree_hidden": agree_hidden,
                     "qualified": bool((g["qualifications"] != "").all()),
                     "signs": "; ".join(signs)})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.merge(table, on="username", how="left")


def _agreement(ratings: pd.DataFrame, n_boot: int, random_state: int,
               notes: list[str]) -> AgreementSummary | None:
    per_case = ratings.groupby("case_id").size() if len(ratings) else pd.Series(dtype=int)
    if per_case.empty or per_case.max() < 2:
        notes.append("agreement not computed: no case has two ratings")
        return None
    return agreement_summary(ratings[["case_id", "reviewer_id", "label"]], n_boot=n_boot,
                             random_state=random_state)


def _automation(ratings: pd.DataFrame, n_boot: int, random_state: int,
                notes: list[str]) -> AutomationEffect | None:
    known = ratings[ratings["model_decision"].notna()]
    if known.empty or known["model_shown"].nunique() < 2 or known["reviewer_id"].nunique() < 2:
        notes.append("automation bias not estimated: the model's decision was not both "
                     "shown and hidden, to at least two reviewers")
        return None
    data = known[["case_id", "reviewer_id", "label", "model_shown", "model_decision"]].copy()
    data["model_shown"] = data["model_shown"].astype(bool)
    data["model_decision"] = data["model_decision"].astype(int)
    # by=None returns one effect, not a table.
    return cast(AutomationEffect, automation_bias(data, n_boot=n_boot,
                                                  random_state=random_state))


def _part(label: str, attribute: str) -> str:
    return next((p for p in label.split(" & ") if p.startswith(f"{attribute}=")), label)


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in frame.to_dict("records"):
        out.append({str(k): _value(v) for k, v in record.items()})
    return out


def _value(v: Any) -> Any:
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return json_safe(v)
