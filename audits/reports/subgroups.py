"""The report section on the worst-off subgroups nobody declared (slice discovery).

Reads the newest slice discovery stored for the audit run
(:func:`audits.slices.stored.run_slice_discovery`, which drafting a report runs with
the defaults when none is stored) and lists its confirmed slices, worst first, with
how they were found; or says that none was found and how many slices were tested.
Every number is copied from the stored run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audits.reports.context import Context
from audits.reports.sections import block, metric_label
from audits.slices.discovery import METRICS
from audits.slices.stored import latest_slice_run
from audits.store import AuditRunRecord

__all__ = ["SECTION_KEY", "SECTION_TITLE", "method_sentence", "slices_section"]

SECTION_KEY = "slices"
SECTION_TITLE = "Worst-off subgroups nobody declared"
_POPULATION = {"all": "decisions", "negatives": "decisions of outcome 0",
               "positives": "decisions of outcome 1"}


def slices_section(ctx: Context) -> dict[str, Any]:
    """Return the section: the stored run's confirmed slices, or that none was found."""
    title = {"key": SECTION_KEY, "title": SECTION_TITLE}
    run = latest_slice_run(ctx.store, ctx.run.id)
    if run is None:
        return {**title, "blocks": [block("paragraph", text=(
            "No slice discovery is stored for this audit run, so subgroups nobody "
            "declared were not searched. Drafting a report runs one when the decisions "
            "allow it (a recorded outcome, and at least 200 rows)."))]}
    results = dict(run.results or {})
    slices = list(results.get("slices") or [])
    metric = metric_label(str(results.get("metric"))).lower()
    blocks = [block("paragraph", text=method_sentence(run))]
    if not slices:
        blocks.append(block("paragraph", text=(
            f"None was found: of {int(results.get('n_tested') or 0):,} slices tested, "
            f"{int(results.get('n_discovered') or 0)} passed the first half and none was "
            f"confirmed on the held-out half. No subgroup of these columns has a "
            f"{metric} significantly above the rest's; absence of a finding is not "
            "evidence that none is worse off.")))
        return {**title, "blocks": blocks}
    blocks.append(block("paragraph", text=(
        f"{len(slices)} slice(s) confirmed, worst first, out of "
        f"{int(results.get('n_tested') or 0):,} tested. The interval is a 95% Wilson "
        "interval over all rows; \"Rest\" is the rate of every other decision.")))
    blocks.append(block(
        "table", id="slices", caption=f"Worst-off subgroups: {metric} [95% CI]",
        columns=[_col("slice", "Slice"), _col("n", "n", "int"),
                 _col("value", f"{metric_label(str(results.get('metric')))} [CI]", "ci"),
                 _col("complement", "Rest", "rate"),
                 _col("p_adjusted", "Adjusted p", "p")],
        rows=[_row(s, list(results.get("columns") or [])) for s in slices]))
    return {**title, "blocks": blocks}


def method_sentence(run: AuditRunRecord) -> str:
    """How a stored discovery was run: columns, depth, tests, correction, hold-out."""
    results, config = dict(run.results or {}), dict(run.config or {})
    settings = dict(results.get("config") or {})
    metric = str(results.get("metric"))
    population = _POPULATION.get(METRICS.get(metric, ("all", ""))[0], "decisions")
    columns = ", ".join(str(c) for c in results.get("columns") or [])
    alpha = float(settings.get("alpha", config.get("alpha", 0.05)))
    return (f"From slice discovery run #{run.id} (seed {settings.get('random_state')}): "
            f"every 1- to {settings.get('max_depth')}-way slice of {columns} (numeric "
            f"columns cut at their quartiles) with at least {settings.get('min_support')} "
            f"{population} in each half was tested against the rest on the "
            f"{metric_label(metric).lower()} (one-sided z-test) on a random half of the "
            f"{int(results.get('rows') or 0):,} decisions, with Benjamini-Hochberg at "
            f"{alpha:.0%} over every slice tested; a slice also had to be worse than each "
            "of its parent slices, and is reported only when the held-out half confirmed "
            "it (Bonferroni over the discovered slices) and it is still worse without the "
            "rows of worse slices reported before it.")


def _row(found: Mapping[str, Any], columns: list[str]) -> dict[str, Any]:
    # Stored JSON sorts the attributes by name; they are shown in the columns' order.
    attributes = sorted(dict(found.get("attributes") or {}).items(),
                        key=lambda kv: columns.index(kv[0]) if kv[0] in columns else 0)
    return {"slice": " & ".join(f"{k}={v}" for k, v in attributes),
            "n": found.get("n"),
            "value": {"value": found.get("value"), "ci_low": found.get("ci_low"),
                      "ci_high": found.get("ci_high")},
            "complement": found.get("complement_value"),
            "p_adjusted": found.get("p_adjusted")}


def _col(key: str, label: str, fmt: str = "text") -> dict[str, str]:
    return {"key": key, "label": label, "format": fmt}
