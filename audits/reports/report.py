"""The audit report model: plain-language findings first, every number from stored results.

:func:`build_report` reads one completed fairness audit run and what is stored beside it
(the dataset and its card, the model, an explanation run of the same data and model, the
review queue and the panel's ratings) and assembles a :class:`Report` whose ``body`` is a
JSON-safe list of sections in :data:`SECTION_TITLES` order. No statistic of the model is
recomputed: intervals, p-values and verdicts are the stored ones; the report only selects,
orders, words and (for the impact ratios) divides them. The same stored data always gives
the same body, so its sha256 (:func:`body_sha256`) is what a sign-off approves.

Section content is built here (findings, identity, scope, method, limitations, sign-off)
and in :mod:`audits.reports.sections` (tables, impact ratios, explanations),
:mod:`audits.reports.conversations` (a chatbot across its users, and its judge),
:mod:`audits.reports.subgroups` (the worst-off subgroups nobody declared, from a stored
slice discovery) and :mod:`audits.reports.oversight` (human oversight);
:mod:`audits.reports.render` prints a report as HTML, PDF or JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audits.data.datasets import BUNDLED
from audits.fairness.metrics import CONFUSION_METRICS
from audits.fairness.stored import AUDIT_KIND
from audits.reports.context import Context, load_panel
from audits.reports.conversations import conversations_section
from audits.reports.oversight import oversight_section
from audits.reports.sections import (
    bias_section,
    block,
    explanation_section,
    group_label,
    impact_ratio_section,
    method_sentences,
    metric_label,
    more_sentence,
    reference_mode,
    reference_rule,
)
from audits.reports.subgroups import SECTION_TITLE as SUBGROUPS_TITLE
from audits.reports.subgroups import slices_section
from audits.roles import Actor, require_role
from audits.store import AuditRunRecord, Store

__all__ = ["HEADLINE_METRICS", "MSG_NOT_FAIRNESS", "MSG_NO_RUN", "REPORT_SCHEMA",
           "SECTION_TITLES", "Report", "body_sha256", "build_report", "canonical_json",
           "fairness_run",
           "parse_card"]

REPORT_SCHEMA = 1
SECTION_TITLES = ("Findings", "System identity", "Scope", "Method", "Model bias",
                  "Impact ratios (NYC Local Law 144 format)", SUBGROUPS_TITLE,
                  "Explanation findings", "Human oversight", "Limitations", "Sign-off")
#: Metrics stated sentence by sentence in the findings and tabulated per group.
HEADLINE_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate", "precision")
#: Failing groups stated per metric in the findings (the rest are counted).
TOP_FAILS = 5
#: Inconclusive comparisons stated per metric in the findings (the rest are counted).
TOP_INCONCLUSIVE = 3
MSG_NO_RUN = "no audit run with id {id}"
MSG_NOT_FAIRNESS = (
    "audit run {id} is not a completed fairness audit (kind {kind!r}, status {status}); "
    "a report is built from a completed fairness audit run"
)
STANDARD_LIMITATIONS = (
    "Observational data: the audit describes how decisions differed between groups; it "
    "does not show why, and a difference is not by itself proof of discrimination.",
    "Label bias: rates that use the recorded outcome (true- and false-positive rates, "
    "precision) inherit any bias in how that outcome was recorded.",
    "Intervals are sampling intervals only: they do not cover errors in the data, in the "
    "group labels or in the choice of metric.",
    "Small groups: comparisons involving a group below the minimum size are reported as "
    "inconclusive rather than passed or failed; absence of a finding is not evidence of "
    "fairness.",
    "Many comparisons were tested; p-values are adjusted (Benjamini-Hochberg), but "
    "verdicts rest on the intervals, which are not adjusted for multiplicity.",
)


@dataclass(frozen=True)
class Report:
    """One audit's report: a deterministic body and when it was generated.

    ``body`` holds everything the renderers print and depends only on stored data;
    ``generated_at`` (ISO 8601, UTC) is kept outside it so the body hash is stable.
    """

    audit_run_id: int
    body: dict[str, Any]
    generated_at: str

    def to_dict(self, signoff: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the report as its JSON contract (``signoff`` None in a draft)."""
        return {"schema": REPORT_SCHEMA, "audit_run_id": self.audit_run_id,
                "generated_at": self.generated_at, "body": self.body,
                "signoff": dict(signoff) if signoff is not None else None}


def build_report(store: Store, actor: Actor, audit_run_id: int, *,
                 progress: Callable[[float, str], None] | None = None) -> Report:
    """Assemble the report of a completed fairness audit run from stored results.

    Parameters
    ----------
    store : Store
    actor : Actor
        Needs "read panel aggregates" (compliance officer, panel lead, admin, data
        scientist).
    audit_run_id : int
        A completed run of kind ``"fairness"``.
    progress : callable ``(fraction, message) -> None`` or None, default None

    Returns
    -------
    Report
        ``body["sections"]`` in :data:`SECTION_TITLES` order, each ``{"key", "title",
        "blocks"}``; blocks are paragraphs, lists, facts, tables and chart data. The
        audit of a conversation system has one more, after the worst-off subgroups:
        :data:`audits.reports.conversations.SECTION_TITLE`.

    Raises
    ------
    PermissionDenied
        The actor may not read panel aggregates.
    LookupError
        No such run (:data:`MSG_NO_RUN`), or its dataset is missing.
    ValueError
        Not a completed fairness audit (:data:`MSG_NOT_FAIRNESS`).

    Examples
    --------
    >>> with Store("sqlite://") as store:
    ...     build_report(store, Actor.system(), 7)
    Traceback (most recent call last):
    ...
    LookupError: no audit run with id 7
    """
    require_role(actor, "read panel aggregates")
    report = progress or (lambda fraction, message: None)
    run = fairness_run(store, audit_run_id)
    ctx = _context(store, actor, run)
    report(0.1, "Findings, identity, scope and method")
    sections = [_findings(ctx), _identity(ctx), _scope(ctx), _method(ctx)]
    report(0.3, "Bias tables, impact ratios and the worst-off subgroups")
    sections += [bias_section(ctx), impact_ratio_section(ctx), slices_section(ctx)]
    chat = conversations_section(ctx)  # a conversation system's own section
    sections += [] if chat is None else [chat]
    report(0.5, "Explanations and human oversight")
    sections += [explanation_section(ctx), oversight_section(ctx)]
    sections += [_limitations(ctx), _signoff_section()]
    report(1.0, "Report assembled")
    body = {"report_id": f"FP-AUDIT-{run.id}-{run.config.get('config_sha256', '')[:8]}",
            "title": f"Fairness audit report: {ctx.dataset_title}",
            "audit_run_id": run.id, "sections": sections}
    return Report(run.id, json.loads(canonical_json(body)),
                  datetime.now(UTC).isoformat(timespec="seconds"))


def body_sha256(body: Mapping[str, Any]) -> str:
    """Return the sha256 of a report body's canonical JSON.

    Examples
    --------
    >>> body_sha256({"b": 1, "a": [1.5]}) == body_sha256({"a": [1.5], "b": 1})
    True
    """
    compact = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(compact.encode()).hexdigest()


def canonical_json(value: Any) -> str:
    """Return ``value`` as canonical, human-readable JSON (sorted keys, indent 2).

    Examples
    --------
    >>> print(canonical_json({"b": 1, "a": None}))
    {
      "a": null,
      "b": 1
    }
    """
    return json.dumps(value, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False)


def parse_card(card: str) -> tuple[dict[str, str], list[str]]:
    """Return a dataset card's ``| field | value |`` rows and its known issues.

    Examples
    --------
    >>> parse_card("| rows | 10 |\\n## Known issues\\n- **Old.** From 1975\\n  in DM.")
    ({'rows': '10'}, ['Old. From 1975 in DM.'])
    """
    fields: dict[str, str] = {}
    issues: list[str] = []
    in_issues = False
    for line in card.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            in_issues = stripped.lstrip("#").strip().lower() == "known issues"
        elif in_issues and stripped.startswith("- "):
            issues.append(stripped[2:].replace("**", "").replace("`", ""))
        elif in_issues and stripped and issues:
            issues[-1] += " " + stripped.replace("**", "").replace("`", "")
        elif stripped.startswith("|") and stripped.count("|") >= 3:
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if cells[0] not in ("field", "") and not set(cells[0]) <= {"-", ":"}:
                fields[cells[0].lower()] = "|".join(cells[1:]).replace("`", "")
    return fields, issues


def fairness_run(store: Store, audit_run_id: int) -> AuditRunRecord:
    """Return a completed fairness run, or raise LookupError / ValueError naming it."""
    run = store.get_audit_run(audit_run_id)
    if run is None:
        raise LookupError(MSG_NO_RUN.format(id=audit_run_id))
    kind = (run.config or {}).get("kind")
    if kind != AUDIT_KIND or run.status != "completed" or not run.results:
        raise ValueError(MSG_NOT_FAIRNESS.format(id=run.id, kind=kind, status=run.status))
    return run


def _context(store: Store, actor: Actor, run: AuditRunRecord) -> Context:
    dataset = store.get_dataset(run.dataset_id)
    if dataset is None:
        raise LookupError(f"audit run {run.id} names a missing dataset {run.dataset_id}")
    model = store.get_model(run.model_id) if run.model_id is not None else None
    fields, issues = parse_card(dataset.card)
    # A bundled data set keeps its registry's title and description; a user's system
    # is described in its owner's words.
    system = store.system_of(dataset.id)
    info = BUNDLED.get(dataset.name)
    title = info.title if info else dataset.name
    description = (info.description if info is not None
                   else system.description if system is not None else "")
    if system is not None and system.intended_use.strip():
        # The system's own record is editable (a returned report is fixed there); the
        # card keeps the text it had when the version was registered.
        fields["intended use"] = system.intended_use.strip()
    return Context(panel=load_panel(store, actor, run.id, run.config), store=store,
                   actor=actor, run=run, results=dict(run.results or {}),
                   dataset=dataset, model=model, card=fields, known_issues=tuple(issues),
                   dataset_title=title, description=description)


def _findings(ctx: Context) -> dict[str, Any]:
    disparities = [d for d in ctx.results.get("disparities", []) if d.get("verdict")]
    blocks = [block("paragraph", text=_headline(ctx, disparities))]
    others = []
    for metric in ctx.audit_config.get("metrics", []):
        rows = [d for d in disparities if d["metric"] == metric]
        if not rows:
            continue
        if metric in HEADLINE_METRICS:
            blocks.append(block("heading", text=metric_label(metric)))
            blocks.append(block("list", items=_metric_findings(ctx, rows)))
        else:
            others.append(_count_sentence(metric, rows))
    if others:
        blocks.append(block("heading", text="Other metrics (see the disparity tables)"))
        blocks.append(block("list", items=others))
    return _section("findings", blocks)


def _headline(ctx: Context, rows: list[dict[str, Any]]) -> str:
    fails = sum(d["verdict"] == "fail" for d in rows)
    unclear = sum(d["verdict"] == "insufficient_evidence" for d in rows)
    passes = sum(d["verdict"] == "pass" for d in rows)
    favourable = "favourable" if ctx.favourable else "adverse"
    return (f"Of {len(rows)} group comparisons tested against the rule "
            f"\"{ctx.run.config.get('rule')}\", {fails} fail, {passes} pass and {unclear} "
            f"are inconclusive (the interval reaches across a bound, or the group is too "
            f"small to judge). A positive decision here "
            f"({ctx.positive_phrase}) is {favourable} for the person. "
            + " ".join(method_sentences(ctx)))


def _metric_findings(ctx: Context, rows: list[dict[str, Any]]) -> list[str]:
    order = {frozenset(s): i for i, s in enumerate(ctx.audit_config.get("slices", []))}

    def slice_rank(d: dict[str, Any]) -> int:
        return order.get(frozenset(d["attributes"]), len(order))

    fails = sorted((d for d in rows if d["verdict"] == "fail"),
                   key=lambda d: (slice_rank(d), -abs(math.log(_ratio(d) or 1.0))))
    unclear = sorted((d for d in rows if d["verdict"] == "insufficient_evidence"),
                     key=lambda d: (slice_rank(d), ctx.group_n(d["attributes"])))
    items = [_fail_sentence(ctx, d) for d in fails[:TOP_FAILS]]
    if len(fails) > TOP_FAILS:
        items.append(more_sentence(len(fails) - TOP_FAILS, "failing", rows[0]["metric"]))
    items += [_unclear_sentence(ctx, d) for d in unclear[:TOP_INCONCLUSIVE]]
    if len(unclear) > TOP_INCONCLUSIVE:
        items.append(more_sentence(len(unclear) - TOP_INCONCLUSIVE, "inconclusive",
                                   rows[0]["metric"]))
    passes = sum(d["verdict"] == "pass" for d in rows)
    items.append(f"{passes} comparison(s) pass the rule (the whole interval lies within it).")
    return items


def _ratio(d: Mapping[str, Any]) -> float | None:
    value = (d.get("ratio") or {}).get("value")
    return float(value) if value is not None and value > 0 else None


def _fail_sentence(ctx: Context, d: dict[str, Any]) -> str:
    ratio = d.get("ratio") or {}
    group, ref = group_label(d["attributes"]), group_label(d["reference"])
    if d["metric"] == "selection_rate":
        lead = (f"{group} receives a positive decision ({ctx.positive_phrase}) "
                f"{_num(ratio.get('value'))} times as often as {ref}")
    else:
        lead = (f"{group} has a {metric_label(d['metric']).lower()} "
                f"{_num(ratio.get('value'))} times that of {ref}")
    four_fifths = " (the four-fifths rule)" if ctx.tau == 0.8 else ""
    return (f"{lead} [{ctx.level_pct}% CI {_num(ratio.get('ci_low'))}, "
            f"{_num(ratio.get('ci_high'))}]: fails the rule \"{ctx.run.config.get('rule')}\""
            f"{four_fifths}, {_evidence(d.get('p_adjusted'))}.")


def _unclear_sentence(ctx: Context, d: dict[str, Any]) -> str:
    ratio = d.get("ratio") or {}
    mdd = d.get("min_detectable_difference")
    detect = (f"the smallest difference in {metric_label(d['metric']).lower()} these "
              f"groups could reliably show is {_num(mdd)}" if mdd is not None
              else "no difference is detectable with these group sizes"
              if d["metric"] in CONFUSION_METRICS and CONFUSION_METRICS[d["metric"]].is_fraction
              else "no minimum detectable difference could be computed")
    reasons = [v["reason"] for v in ctx.results.get("verdicts", [])
               if v.get("metric") == d["metric"] and v.get("attributes") == d["attributes"]
               and v.get("verdict") == "insufficient_evidence" and v.get("reason")]
    why = reasons[0].rstrip(".") if reasons else "the evidence is insufficient"
    return (f"{group_label(d['attributes'])} versus {group_label(d['reference'])}: "
            f"INCONCLUSIVE, {why} (n = {ctx.group_n(d['attributes'])}; ratio "
            f"{_num(ratio.get('value'))} [{_num(ratio.get('ci_low'))}, "
            f"{_num(ratio.get('ci_high'))}]); {detect}.")


def _count_sentence(metric: str, rows: list[dict[str, Any]]) -> str:
    fails = sum(d["verdict"] == "fail" for d in rows)
    unclear = sum(d["verdict"] == "insufficient_evidence" for d in rows)
    return (f"{metric_label(metric)}: {fails} failing, {unclear} inconclusive, "
            f"{len(rows) - fails - unclear} passing comparisons.")


def _evidence(p: float | None) -> str:
    if p is None:
        return "strength of evidence not available (no test)"
    if p < 0.001:
        return "strong evidence (adjusted p < 0.001)"
    word = "strong" if p < 0.01 else "moderate" if p < 0.05 else "weak"
    return f"{word} evidence (adjusted p = {p:.3f})"


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.2f}"


def _identity(ctx: Context) -> dict[str, Any]:
    ds, model = ctx.dataset, ctx.model
    facts = [["Dataset", f"{ctx.dataset_title} ({ds.name})"],
             ["Source", ctx.card.get("source") or ds.source],
             ["Dataset sha256", ds.sha256], ["Rows registered", str(ds.n_rows)]]
    if model is None:
        facts.append(["Decisions", "logged decisions of the deployed system "
                      f"(column {ctx.audit_config.get('y_pred')}); no model of fairpanel's"])
    else:
        facts += [["Model", f"#{model.id} {model.kind}"], ["Model sha256", model.sha256],
                  ["Model parameters", canonical_compact(model.params)]]
    facts += [["Intended use", ctx.card.get("intended use") or "not stated"],
              ["Decision type", ctx.card.get("decision type") or ctx.card.get("prediction")
               or "not stated"],
              ["Positive label", f"{ctx.positive_phrase}; "
               f"{'favourable' if ctx.favourable else 'adverse (unfavourable)'} for the person"]]
    return _section("identity", [block("facts", rows=facts)])


def _scope(ctx: Context) -> dict[str, Any]:
    model = ctx.model
    split = ("none: the logged decisions, all rows audited" if model is None else
             f"{model.split.get('method', 'split')}: {model.split.get('n_test')} held-out "
             f"rows (test size {float(model.split.get('test_size', 0)):.2f}, seed "
             f"{model.split.get('random_state')}); the model was trained on the others")
    facts = [["Data period", ctx.card.get("data period") or ctx.card.get("period")
              or "not stated"],
             ["Rows audited", str(ctx.results.get("rows"))], ["Held-out split", split],
             ["Exclusions", ctx.card.get("filter") or "none stated"],
             ["Sensitive features", ", ".join(ctx.sensitive_features)]]
    for feature in ctx.sensitive_features:
        missing = ctx.group_n({feature: "<missing>"})
        facts.append([f"Missing or unknown {feature}", f"{missing} row(s)"])
    return _section("scope", [block("facts", rows=facts)])


def _method(ctx: Context) -> dict[str, Any]:
    cfg, run = ctx.audit_config, ctx.run
    rules = "; ".join(r.get("text", "") for r in cfg.get("rules", []))
    facts = [["Metrics", ", ".join(metric_label(m) for m in cfg.get("metrics", []))],
             ["Rules", f"{rules} (tau = {ctx.tau})"],
             ["Fixed before the run", f"metrics, rules and thresholds are the run's stored "
              f"configuration (config sha256 {run.config.get('config_sha256')}), recorded "
              f"when run #{run.id} was created at {run.created_at.isoformat()}"],
             ["Reference group", f"{reference_mode(cfg.get('reference'))}: "
              f"{reference_rule(cfg.get('reference'), ctx.sensitive_features)}"],
             ["Intervals", f"{cfg.get('interval')}; level {cfg.get('level')}"],
             ["Bootstrap replicates", str(cfg.get("n_boot"))],
             ["Seed", str(cfg.get("random_state"))],
             ["Minimum group size", str(cfg.get("min_n"))],
             ["Tests", str(cfg.get("test"))], ["Verdicts", str(cfg.get("verdict"))]]
    aggregation = (run.results or {}).get("aggregation")
    queries = list(aggregation.get("queries", [])) if aggregation else []
    if aggregation:
        facts.append(["Counts computed by", _where_counted(aggregation)])
    versions = run.config.get("library_versions", {})
    table = block("table", id="library_versions", caption="Library versions",
                  columns=[_col("library", "Library"), _col("version", "Version")],
                  rows=[{"library": k, "version": v} for k, v in sorted(versions.items())])
    code = [block("code", id=f"aggregation_query_{i}", text=q,
                  caption=f"Aggregation query {i} of {len(queries)}, as run on "
                          f"{aggregation['backend']}" + (" (the last one's rows are the "
                                                          "counts)" if len(queries) > 1 else ""))
            for i, q in enumerate(queries, 1)] if aggregation else []
    return _section("method", [block("facts", rows=facts), *code, table])


def _where_counted(aggregation: Mapping[str, Any]) -> str:
    """Say where an audit's counts were made, and how to make them again.

    Examples
    --------
    >>> _where_counted({"backend": "pandas", "source": "logged decisions", "queries": []})
    'pandas, in memory, over logged decisions'
    >>> print(_where_counted({"backend": "postgresql", "source": '"decisions"',
    ...                       "queries": ["q"]}))  # doctest: +NORMALIZE_WHITESPACE
    postgresql, where the data live (source "decisions"): 1 query, printed below; run it
    again there to get the counts
    """
    backend, source = aggregation.get("backend"), aggregation.get("source")
    n = len(aggregation.get("queries", []))
    if not n:
        return f"{backend}, in memory, over {source}"
    return (f"{backend}, where the data live (source {source}): {n} "
            f"{'query' if n == 1 else 'queries'}, printed below; run "
            f"{'it' if n == 1 else 'them'} again there to get the counts")


def _limitations(ctx: Context) -> dict[str, Any]:
    items = list(STANDARD_LIMITATIONS)
    if ctx.simulated_share > 0:
        items.append(f"Simulated panel: {ctx.simulated_share:.0%} of the stored ratings come "
                     "from the simulated demo panel, not from people; the human-oversight "
                     "figures illustrate the method only.")
    items += [f"From the dataset card: {issue}" for issue in ctx.known_issues]
    return _section("limitations", [block("list", items=items)])


def _signoff_section() -> dict[str, Any]:
    return _section("signoff", [block("signoff", draft="Draft — not approved")])


def _section(key: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("findings", "identity", "scope", "method", "bias", "impact_ratios", "slices",
            "explanations", "oversight", "limitations", "signoff")
    return {"key": key, "title": SECTION_TITLES[keys.index(key)], "blocks": blocks}


def _col(key: str, label: str, fmt: str = "text") -> dict[str, str]:
    return {"key": key, "label": label, "format": fmt}


def canonical_compact(value: Any) -> str:
    """Return ``value`` as compact JSON with sorted keys (for a one-line fact)."""
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), default=str)
