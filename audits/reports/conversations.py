"""The report section of a conversation system: the bot across its users, and its judge.

Only for an audit of a conversation system (:mod:`audits.conversations.stored`). Reads
the newest findings kept for the audit run
(:func:`audits.conversations.findings.record_conversation_findings`, which drafting a
report runs when none is kept for the current ratings) and copies them: the bot's
escalation, resolution and hand-over rates per group of each user attribute, with
intervals, ratios and verdicts; the judge's agreement with the panel per criterion and
group; the alternative annotator test; the judge's offset from the panel; the
reviewers' automation bias; the knowledge gaps. Every number is copied from the stored
run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audits.conversations.findings import latest_conversation_findings
from audits.conversations.stored import CONVERSATIONS_ROLE
from audits.reports.context import Context
from audits.reports.sections import block

__all__ = ["SECTION_KEY", "SECTION_TITLE", "conversations_section"]

SECTION_KEY = "conversations"
SECTION_TITLE = "Conversations: the bot across its users, and its judge"
RATES = {"escalated": "Escalated to a person", "resolved": "Resolved",
         "handed_over": "Handed over to an agent"}
VERDICTS = {"pass": "pass", "fail": "FAIL", "insufficient_evidence": "not enough evidence",
            "reference": "reference", "too_small": "too small"}


def conversations_section(ctx: Context) -> dict[str, Any] | None:
    """The section, or None when the audit is not of a conversation system."""
    if CONVERSATIONS_ROLE not in dict(ctx.dataset.roles):
        return None
    title = {"key": SECTION_KEY, "title": SECTION_TITLE}
    run = latest_conversation_findings(ctx.store, ctx.run.id)
    if run is None:
        return {**title, "blocks": [block("paragraph", text=(
            "No findings are kept for this conversation system's audit, so the bot's rates "
            "across users and the judge were not examined here. Drafting a report keeps "
            "them (fairpanel conversations findings prints them)."))]}
    found = dict(run.results or {})
    judged = dict(found.get("judges_by") or {found.get("by"): found.get("judges")})
    blocks = [block("paragraph", text=(
        f"From conversation findings run #{run.id}: {int(found.get('conversations') or 0):,} "
        f"conversations of version {found.get('version')}; the panel rated "
        f"{int(found.get('rated') or 0):,} of them. Each rate is a share of conversations "
        "audited by the same engine as a model's selection rate (intervals, ratio to the "
        "reference group, the four-fifths rule; intersections are in the findings); the "
        "judge is compared with the panel per rubric criterion, by "
        + ", ".join(str(a) for a in judged) + "."))]
    rates = [r for r in found.get("rates") or [] if " & " not in str(r.get("group"))]
    blocks.append(block(
        "table", id="conversation_rates",
        caption="The bot's rates per user group [95% CI]",
        columns=[_col("rate", "Rate"), _col("group", "Users"), _col("n", "n", "int"),
                 _col("value", "Rate [CI]", "ci"), _col("ratio", "Ratio to reference [CI]",
                                                        "ci"),
                 _col("verdict", "Verdict")],
        rows=[{"rate": RATES.get(r["rate"], r["rate"]), "group": r["group"], "n": r["n"],
               "value": _ci(r, "value", "ci_low", "ci_high"),
               "ratio": _ci(r, "ratio", "ratio_ci_low", "ratio_ci_high"),
               "verdict": VERDICTS.get(str(r.get("verdict")), str(r.get("verdict")))}
              for r in rates]))
    failing = [r for r in rates if r.get("verdict") == "fail"]
    blocks.append(block("list", items=[
        f"{RATES.get(r['rate'], r['rate'])} fails the four-fifths rule for {r['group']} "
        f"users: {r['value']:.1%}, {r['ratio']:.2f} times {r['reference']} users."
        for r in failing] or ["No rate of a user group fails the four-fifths rule."]))
    if not any(judged.values()):
        blocks.append(block("paragraph", text=(
            "The judge was not compared with the panel: the panel had rated too few "
            "conversations on the judge's criteria.")))
    else:
        blocks += _judge_blocks(judged)
    gaps = list(found.get("knowledge_gaps") or [])[:5]
    if gaps:
        blocks.append(block(
            "table", id="conversation_gaps",
            caption="Knowledge gaps: the intents whose answers the panel corrects most",
            columns=[_col("intent", "Intent"), _col("reviewed", "Reviewed", "int"),
                     _col("needs_correction", "Need correcting", "int"),
                     _col("share", "Share [CI]", "ci")],
            rows=[{"intent": g["intent"], "reviewed": g["reviewed"],
                   "needs_correction": g["needs_correction"],
                   "share": _ci(g, "share", "ci_low", "ci_high")} for g in gaps]))
    return {**title, "blocks": blocks}


def _judge_blocks(judged: Mapping[str, Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """The judge's tables, by every attribute (its overall rows once, first)."""
    def rows(key: str, keep: Any = lambda r: True) -> list[tuple[str, dict[str, Any]]]:
        out, seen_all = [], False
        for attribute, judges in judged.items():
            for r in (judges or {}).get(key) or []:
                if not keep(r):
                    continue
                overall = r.get("group") == "all conversations"
                if overall and seen_all:
                    continue
                out.append(("all" if overall else str(attribute), r))
            seen_all = seen_all or bool(judges and judges.get(key))
        return sorted(out, key=lambda ar: (ar[1].get("criterion"), ar[0] != "all"))

    columns = [_col("criterion", "Criterion"), _col("attribute", "By"),
               _col("group", "Users")]
    blocks = [block(
        "table", id="judge_agreement",
        caption="The judge against the panel's median: ordinal Krippendorff's alpha [95% CI]",
        columns=[*columns, _col("n", "Conversations", "int"),
                 _col("alpha", "Alpha [CI]", "ci")],
        rows=[{"criterion": r["criterion"], "attribute": a, "group": r["group"],
               "n": r["n_items"], "alpha": _ci(r, "value", "ci_low", "ci_high")}
              for a, r in rows("agreement", lambda r: r.get("raters") == "judge_vs_panel")])]
    words: dict[Any, str] = {True: "can replace a reviewer",
                             False: "not shown to replace a reviewer"}
    blocks.append(block(
        "table", id="judge_alt_test",
        caption="Can the judge replace a reviewer? The alternative annotator test "
                "(Calderon, Reichart and Dror, ACL 2025; Benjamini-Yekutieli over reviewers)",
        columns=[*columns, _col("result", "Result"), _col("omega", "Winning rate", "rate"),
                 _col("n", "Conversations", "int")],
        rows=[{"criterion": r["criterion"], "attribute": a, "group": r["group"],
               "result": words.get(r.get("passes"), "not tested"), "omega": r.get("omega"),
               "n": r["n_conversations"]} for a, r in rows("alt_test")]))
    blocks.append(block(
        "table", id="judge_bias",
        caption="The judge's offset from the panel (judge minus the panel's median) [95% CI]",
        columns=[*columns, _col("offset", "Offset [CI]", "ci"),
                 _col("p_adjusted", "Adjusted p (BY)", "p")],
        rows=[{"criterion": r["criterion"], "attribute": a, "group": r["group"],
               "offset": _ci(r, "offset", "offset_ci_low", "offset_ci_high"),
               "p_adjusted": r.get("p_adjusted")} for a, r in rows("bias")]))
    automation = rows("automation", lambda r: r.get("group") == "all conversations")
    if automation:
        blocks.append(block(
            "table", id="judge_automation",
            caption="Automation bias: how much more often reviewers agree with the judge "
                    "when shown its verdict (at random) [95% CI]",
            columns=[_col("criterion", "Criterion"), _col("value", "Difference [CI]", "ci"),
                     _col("n", "Reviewers", "int")],
            rows=[{"criterion": r["criterion"], "value": _ci(r, "value", "ci_low", "ci_high"),
                   "n": r["n_reviewers"]} for _, r in automation]))
    return blocks


def _ci(row: Mapping[str, Any], value: str, low: str, high: str) -> dict[str, Any]:
    return {"value": row.get(value), "ci_low": row.get(low), "ci_high": row.get(high)}


def _col(key: str, label: str, fmt: str = "text") -> dict[str, str]:
    return {"key": key, "label": label, "format": fmt}
