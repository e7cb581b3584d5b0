"""The NYC Local Law 144 public summary drawn as one HTML page and one PDF page.

What the summary states is built by :mod:`audits.evidence.ll144`; this module draws it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace

from audits.evidence.ll144 import (
    NOT_GIVEN,
    RULES,
    LL144Row,
    LL144Summary,
    LL144Table,
    example_summary,  # noqa: F401 - the examples below draw it
)
from audits.reports.pdf import format_cell

__all__ = ["render_ll144_html", "render_ll144_pdf"]

_EXCLUDED = "Categories excluded from the impact ratios"


def render_ll144_html(summary: LL144Summary) -> str:
    """Return the summary as one self-contained HTML page (inline CSS, no external asset).

    The summary's JSON (:meth:`LL144Summary.to_dict`) is embedded in
    ``<script type="application/json" id="fairpanel-ll144">``.

    Examples
    --------
    >>> page = render_ll144_html(example_summary())
    >>> "Distribution date of the tool</dt><dd>not given" in page, "http" in page
    (True, False)
    """
    e = html.escape
    facts = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _facts(summary))
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>"
             f"{e(_heading(summary))}</title><style>{_CSS}</style></head><body>"
             f"<h1>{e(_heading(summary))}</h1><dl>{facts}</dl>"]
    parts += [f"<p class='gap'>{e(m)}</p>" for m in _missing_lines(summary)]
    for table in summary.tables:
        head = "".join(f"<th>{e(c)}</th>" for c in _columns(table))
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in _cells(r)) + "</tr>"
                       for r in table.rows)
        parts.append(f"<h2>{e(_table_title(table))}</h2><table><tr>{head}</tr>{body}</table>")
    items = "".join(f"<li>{e(line)}</li>" for line in _excluded_lines(summary))
    parts.append(f"<h2>{_EXCLUDED}</h2><ul>{items or '<li>none'}"
                 f"</ul><h2>Source</h2><p>{e(_provenance(summary))}</p><p class='meta'>"
                 f"{e(_rules_line())}</p>")
    data = json.dumps(summary.to_dict(), sort_keys=True).replace("</", "<\\/")
    parts.append(f"<script type='application/json' id='fairpanel-ll144'>{data}</script>"
                 "</body></html>")
    return "".join(parts)


def render_ll144_pdf(summary: LL144Summary) -> bytes:
    """Return the summary as an A4 PDF (fpdf2), one page where it fits.

    The PDF's date is the approval time, so the same summary gives the same bytes.

    Examples
    --------
    >>> render_ll144_pdf(example_summary())[:5]
    b'%PDF-'
    """
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(12, 10, 12)
    pdf.set_auto_page_break(True, margin=10)
    pdf.set_creation_date(summary.approved_at)
    pdf.set_title(_heading(summary))
    pdf.set_creator("fairpanel")
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 13)
    pdf.multi_cell(0, 6, _heading(summary), align="L", new_x="LMARGIN", new_y="NEXT")
    _pdf_table(pdf, [list(f) for f in _facts(summary)], (1.3, 3.4), header=False)
    pdf.set_font("DejaVu", "B", 8)
    for line in _missing_lines(summary):
        pdf.multi_cell(0, 4, line, align="L", new_x="LMARGIN", new_y="NEXT")
    for table in summary.tables:
        pdf.set_font("DejaVu", "B", 9)
        pdf.cell(0, 5, _table_title(table), new_x="LMARGIN", new_y="NEXT")
        weights = (*(1.4,) * len(table.attributes), 0.6, 0.7, 0.7, 0.8, 3.4)
        _pdf_table(pdf, [_columns(table), *(_cells(r) for r in table.rows)], weights,
                   header=True)
    for title, lines in ((_EXCLUDED, _excluded_lines(summary) or ["none"]),
                         ("Source", [_provenance(summary), _rules_line()])):
        pdf.set_font("DejaVu", "B", 8)
        pdf.cell(0, 4.5, title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 7)
        for line in lines:
            pdf.multi_cell(0, 3.2, line, align="L", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# ------------------------------------------------------------------ reading the report


# ------------------------------------------------------------------ rendering


_CSS = ("body{font-family:Georgia,serif;max-width:58em;margin:2em auto;padding:0 1em;"
        "color:#111}table{border-collapse:collapse;width:100%;font-size:.9em}"
        "th,td{border:1px solid #999;padding:.2em .4em;text-align:left}th{background:#eee}"
        "dl{display:grid;grid-template-columns:16em 1fr;gap:.2em 1em}dt{font-weight:bold}"
        "dd{margin:0;overflow-wrap:anywhere}.gap{color:#b2182b;font-weight:bold}"
        ".meta{color:#444;font-size:.85em}")


def _heading(s: LL144Summary) -> str:
    return f"Bias audit summary (NYC Local Law 144): {s.system}"


def _facts(s: LL144Summary) -> list[tuple[str, str]]:
    unknown = "; ".join(f"{t.kind}: {t.n_unknown}" for t in s.tables) or "not stated"
    return [("Date of the most recent bias audit",
             f"{s.audit_date.isoformat()} (report approved by {s.approved_by})"),
            ("Audit run", f"#{s.audit_run_id}, run on {s.audit_run_at.date().isoformat()}"),
            ("Distribution date of the tool",
             s.distribution_date.isoformat() if s.distribution_date else NOT_GIVEN),
            ("Source of the data", s.data_source), ("Data", s.data_explanation),
            ("Data set", f"{s.system}; sha256 {s.dataset_sha256}"),
            ("Individuals audited", str(s.rows_audited)),
            ("Individuals in an unknown category", unknown),
            ("Positive decision", s.positive_label), ("Rates", s.rate_definition)]


def _missing_lines(s: LL144Summary) -> list[str]:
    return [f"Missing: the report has no {kind} table; Local Law 144 requires sex, "
            "race/ethnicity and their intersection." for kind in s.missing_categories]


def _table_title(t: LL144Table) -> str:
    return f"Impact ratios by {t.kind} ({' x '.join(t.attributes)})"


def _columns(t: LL144Table) -> list[str]:
    return [*t.attributes, "n", "Share", "Rate", "Impact ratio", "Note"]


def _cells(r: LL144Row) -> list[str]:
    note = "; ".join(x for x in (r.note, "unknown category" if r.unknown else "") if x)
    return [*r.values, str(r.n), format_cell(r.share, "pct"), format_cell(r.rate, "rate"),
            format_cell(r.impact_ratio, "rate"), note]


def _excluded_lines(s: LL144Summary) -> list[str]:
    return [f"{' x '.join(r.values)} ({t.kind}): n = {r.n}, rate {format_cell(r.rate, 'rate')}"
            f"; {r.note or 'excluded from the impact ratios'}"
            for t in s.tables for r in t.excluded]


def _provenance(s: LL144Summary) -> str:
    return (f"Copied from approved report #{s.report_id} ({s.report_ref}), body sha256 "
            f"{s.body_sha256}, approved by {s.approved_by} at {s.approved_at.isoformat()}.")


def _rules_line() -> str:
    return "Rules: " + "; ".join(f"{ref} ({what})" for ref, what in RULES) + "."


def _pdf_table(pdf: FPDF, rows: list[list[str]], weights: tuple[float, ...], *,
               header: bool) -> None:
    pdf.set_font("DejaVu", "", 7)
    style = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))
    with pdf.table(col_widths=weights, width=pdf.epw, line_height=3.2, text_align="LEFT",
                   first_row_as_headings=header, headings_style=style, padding=0.6) as table:
        for values in rows:
            row = table.row()
            for value in values:
                row.cell(value)
    pdf.ln(1.5)
