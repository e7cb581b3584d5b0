"""Display tables for the review-queue, deferral and monitoring pages (no statistics).

Each function reshapes stored records (cases, a stored flag policy, batches, a
monitoring history) into a small :class:`pandas.DataFrame` or a label; pages only show
them, so the shaping can be tested without Streamlit. Counting cases per reason or per
group is table shaping: every number is read from what the engine stored.

A case's snapshot may hold ``"hidden"`` entries (a gold case's known answer) that a
reviewer must never see; :func:`reviewer_snapshot` drops them, and every other helper
here that reads a snapshot goes through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from app.formatting import short_hash, when
from audits.flagging.common import REASONS
from audits.store import AlertRecord, BatchRecord, CaseRecord

__all__ = [
    "AGE_BUCKETS",
    "HIDDEN_KEY",
    "INITIAL_BATCH",
    "alert_points",
    "age_table",
    "batch_table",
    "case_label",
    "case_table",
    "feature_table",
    "position_labels",
    "queue_batch_table",
    "reason_group_counts",
    "reason_label",
    "reason_table",
    "reasons_covered",
    "reviewer_snapshot",
]

#: The snapshot key that holds what reviewers must not see (a gold case's answer).
HIDDEN_KEY = "hidden"
#: How the cases queued with the audit itself (no batch) are labelled.
INITIAL_BATCH = "initial audit"
#: Age buckets of a queued case, youngest first, with their upper bounds in days.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 day", 1.0), ("1-7 days", 7.0), ("> 7 days", float("inf")))
#: Reasons in the flagging policy's order; others follow alphabetically.
REASON_ORDER = REASONS
_REASON_LABELS = {"asked_for_person": "Asked for a person", "policy_rule": "Policy rule",
                  "judge_fail": "Judge fail (LLM judge)", "random_control": "Random control",
                  "gold": "Gold (known answer)",
                  "slice": "Worst-off subgroup (slice)",
                  "active_learning": "Active learning (teaches the model)"}


def reason_label(reason: str) -> str:
    """Return how a flagging reason is shown.

    Examples
    --------
    >>> reason_label("low_confidence"), reason_label("gold")
    ('Low confidence', 'Gold (known answer)')
    """
    return _REASON_LABELS.get(reason, reason.replace("_", " ").capitalize())


def reviewer_snapshot(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """Return a case's snapshot as a reviewer may see it: without the hidden entries.

    Examples
    --------
    >>> reviewer_snapshot({"score": 0.4, "hidden": {"gold_answer": 1}})
    {'score': 0.4}
    """
    return {k: v for k, v in snapshot.items() if k != HIDDEN_KEY}


def case_label(case: CaseRecord, batches: Mapping[int | None, str]) -> str:
    """Return a case's label for a picker: rank, batch, primary reason, subject group."""
    batch = batches.get(case.batch_id, f"batch #{case.batch_id}")
    return (f"#{case.rank} · {batch} · {reason_label(case.primary_reason)} · "
            f"{case.subject_group}")


def case_table(cases: Sequence[CaseRecord], batches: Mapping[int | None, str]) -> pd.DataFrame:
    """Return one row per case: rank, batch, reasons, subject group, decision, score.

    ``batches`` maps a case's ``batch_id`` to its label (None: the initial audit).
    """
    rows = []
    for case in cases:
        snapshot = reviewer_snapshot(case.snapshot)
        decision = snapshot.get("decision") or {}
        rows.append({
            "rank": case.rank,
            "batch": batches.get(case.batch_id, f"batch #{case.batch_id}"),
            "primary reason": reason_label(case.primary_reason),
            "all reasons": ", ".join(reason_label(r["reason"]) for r in case.reasons),
            "subject group": case.subject_group,
            "decision": str(decision.get("label", decision.get("value", "-"))),
            "score": _float(snapshot.get("score")),
            "status": case.status,
            "queued at": when(case.created_at),
        })
    columns = ["rank", "batch", "primary reason", "all reasons", "subject group", "decision",
               "score", "status", "queued at"]
    return pd.DataFrame(rows, columns=columns)


def reason_group_counts(cases: Sequence[CaseRecord], *, top: int = 12) -> pd.DataFrame:
    """Count cases per (primary reason, subject group); groups beyond ``top`` pooled.

    Returns
    -------
    pandas.DataFrame
        ``reason, group, n``: ``reason`` and ``group`` categorical, ordered for display:
        reasons in the policy's order, groups largest first, the groups after the
        ``top`` largest pooled as ``"other (k groups)"`` (last).
    """
    if not cases:
        return pd.DataFrame({"reason": [], "group": [], "n": []})
    frame = pd.DataFrame({"reason": [c.primary_reason for c in cases],
                          "group": [c.subject_group for c in cases]})
    sizes = frame["group"].value_counts(sort=False)
    order = sorted(sizes.index, key=lambda g: (-int(sizes[g]), str(g)))
    if len(order) > top:
        rest = order[top:]
        other = f"other ({len(rest)} groups)"
        frame.loc[frame["group"].isin(rest), "group"] = other
        order = [*order[:top], other]
    counts = frame.groupby(["reason", "group"], sort=False).size().rename("n").reset_index()
    reasons = _ordered(counts["reason"])
    counts["reason"] = pd.Categorical(counts["reason"], categories=reasons, ordered=True)
    counts["group"] = pd.Categorical(counts["group"], categories=order, ordered=True)
    return counts.sort_values(["reason", "group"]).reset_index(drop=True)


def age_table(cases: Sequence[CaseRecord], *, now: datetime | None = None) -> pd.DataFrame:
    """Count cases by time since they were queued (:data:`AGE_BUCKETS`, every bucket shown).

    Examples
    --------
    >>> age_table([])["age"].tolist()
    ['< 1 day', '1-7 days', '> 7 days']
    """
    moment = now or datetime.now(UTC)
    n = dict.fromkeys((label for label, _ in AGE_BUCKETS), 0)
    for case in cases:
        created = case.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        days = (moment - created).total_seconds() / 86400.0
        label = next(label for label, upper in AGE_BUCKETS if days < upper)
        n[label] += 1
    return pd.DataFrame({"age": list(n), "cases": list(n.values())})


def queue_batch_table(cases: Sequence[CaseRecord],
                      batches: Mapping[int | None, str]) -> pd.DataFrame:
    """Count cases per batch: the initial audit first, then batches in ingestion order."""
    n = dict.fromkeys(batches.values(), 0)
    for case in cases:
        label = batches.get(case.batch_id, f"batch #{case.batch_id}")
        n[label] = n.get(label, 0) + 1
    return pd.DataFrame({"batch": list(n), "cases": list(n.values())})


def reason_table(policy: Mapping[str, Any]) -> pd.DataFrame:
    """Return flagged and selected cases per reason, with the reason's quota (summary).

    ``policy`` is :meth:`~audits.store.Store.get_flag_policy`'s mapping.

    Examples
    --------
    >>> p = {"policy": {"budget": 10, "quotas": {"gold": 0.1, "low_confidence": 0.3}},
    ...      "summary": {"flagged_by_reason": {"low_confidence": 40},
    ...                  "selected_by_reason": {"low_confidence": 3, "gold": 1}}}
    >>> reason_table(p).to_dict("records")[0]
    {'reason': 'Low confidence', 'quota': '30%', 'flagged': 40, 'selected': 3}
    """
    quotas = (policy.get("policy") or {}).get("quotas") or {}
    summary = policy.get("summary") or {}
    flagged = summary.get("flagged_by_reason") or {}
    selected = summary.get("selected_by_reason") or {}
    reasons = _ordered([*quotas, *flagged, *selected])
    return pd.DataFrame({
        "reason": [reason_label(r) for r in reasons],
        "quota": [f"{float(quotas[r]):.0%}" if r in quotas else "-" for r in reasons],
        "flagged": [int(flagged.get(r, 0)) for r in reasons],
        "selected": [int(selected.get(r, 0)) for r in reasons],
    })


def reasons_covered(policy: Mapping[str, Any], cases: Sequence[CaseRecord]) -> tuple[int, int]:
    """Return (reasons with a queued case, reasons the policy asks for).

    A reason counts as covered when some case carries it among its reasons; the policy
    asks for the reasons with a positive quota.
    """
    quotas = (policy.get("policy") or {}).get("quotas") or {}
    wanted = {r for r, share in quotas.items() if float(share) > 0}
    present = {r["reason"] for c in cases for r in c.reasons} | {c.primary_reason
                                                                 for c in cases}
    wanted = wanted or present
    return len(wanted & present), len(wanted)


def feature_table(snapshot: Mapping[str, Any]) -> pd.DataFrame:
    """Return a case's features and sensitive attributes as ``attribute, value, kind``.

    Examples
    --------
    >>> feature_table({"features": {"age": 40}, "sensitive": {"sex": "f"},
    ...                "hidden": {"gold_answer": 1}})["attribute"].tolist()
    ['sex', 'age']
    """
    seen = reviewer_snapshot(snapshot)
    rows = [(k, str(v), "sensitive") for k, v in (seen.get("sensitive") or {}).items()]
    rows += [(k, str(v), "feature") for k, v in (seen.get("features") or {}).items()]
    return pd.DataFrame(rows, columns=["attribute", "value", "kind"])


def batch_table(batches: Sequence[BatchRecord], cases: Sequence[CaseRecord]) -> pd.DataFrame:
    """Return one row per batch: label, period, rows, cases queued, the model version
    that decided it (empty for logged decisions), short sha256."""
    queued: dict[int | None, int] = {}
    for case in cases:
        queued[case.batch_id] = queued.get(case.batch_id, 0) + 1
    rows = [{"batch": b.label,
             "period": f"{b.period_start or '?'} to {b.period_end or '?'}",
             "rows": b.n_rows, "cases queued": queued.get(b.id, 0),
             "decided by": _model_of(b), "sha256": short_hash(b.sha256),
             "ingested": when(b.created_at)}
            for b in batches]
    return pd.DataFrame(rows, columns=["batch", "period", "rows", "cases queued",
                                       "decided by", "sha256", "ingested"])


def _model_of(batch: BatchRecord) -> str:
    model = (batch.results or {}).get("model")
    return f"model #{model['id']}" if isinstance(model, dict) and "id" in model else ""


def position_labels(history: pd.DataFrame) -> list[str]:
    """Return the x-axis labels of a monitoring history, one per position, in order.

    A label repeated at two positions gets its position appended, so each is its own
    category.

    Examples
    --------
    >>> h = pd.DataFrame({"position": [0, 1, 2, 2], "label": ["baseline", "w", "w", "w"]})
    >>> position_labels(h)
    ['baseline', 'w (1)', 'w (2)']
    """
    first = history.drop_duplicates("position").sort_values("position")
    labels = [str(x) for x in first["label"]]
    return [f"{label} ({p})" if labels.count(label) > 1 else label
            for label, p in zip(labels, first["position"], strict=True)]


def alert_points(history: pd.DataFrame, alerts: Iterable[AlertRecord] | pd.DataFrame,
                 ) -> pd.DataFrame:
    """Return the history rows where an alert moved a disparity into ``fail``.

    ``alerts`` are stored alerts (matched on ``batch_id``, ``metric`` and
    ``subject_group``) or a :func:`audits.monitoring.history.verdict_alerts` table (matched on
    ``batch_id``, ``metric`` and ``group``).
    """
    if isinstance(alerts, pd.DataFrame):
        keys = {(b, m, g) for b, m, g, to in zip(alerts["batch_id"], alerts["metric"],
                                                  alerts["group"], alerts["to_verdict"],
                                                  strict=True) if to == "fail"}
    else:
        keys = {(a.batch_id, a.metric, a.subject_group) for a in alerts
                if a.to_verdict == "fail"}
    hit = [(b, m, g) in keys for b, m, g in zip(history["batch_id"], history["metric"],
                                                 history["group"], strict=True)]
    return history[hit]


def _ordered(reasons: Iterable[str]) -> list[str]:
    unique = list(dict.fromkeys(str(r) for r in reasons))
    known = [r for r in REASON_ORDER if r in unique]
    return known + sorted(set(unique) - set(known))


def _float(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else float("nan")
