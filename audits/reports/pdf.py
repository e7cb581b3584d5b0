"""The PDF of a report (fpdf2): A4, readable when printed, its JSON attached.

Rendering is deterministic: the PDF's creation date and the attachment's date are the
report's ``generated_at``, so the same report and sign-off give the same bytes, and a
verifier re-renders a signed report and compares it with the file byte for byte.

Body text is 10.5 pt and tables 8 pt with wrapped cells that fit the page width; long
tables continue across pages with their header repeated; charts are scaled to the page
width. Every page carries the report id and its page number.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace

from audits.reports.charts import chart_png
from audits.reports.report import Report, body_sha256

__all__ = ["format_cell", "report_chart_png", "render_pdf_document", "signoff_lines"]

FONT = "DejaVu"
MONO = "DejaVuMono"
BODY_PT = 10.5
TABLE_PT = 8.0
#: Relative column widths by cell format.
WEIGHTS = {"text": 2.6, "int": 0.8, "ci": 2.4, "rate": 1.2, "pct": 1.2, "p": 1.1}


class _ReportPDF(FPDF):
    def __init__(self, report_id: str, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report_id, self.title_text = report_id, title
        fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        for style, file in (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf"),
                            ("I", "DejaVuSans-Oblique.ttf")):
            self.add_font(FONT, style, str(fonts / file))
        self.add_font(MONO, "", str(fonts / "DejaVuSansMono.ttf"))
        self.set_margins(15, 18, 15)
        self.set_auto_page_break(True, margin=16)
        self.alias_nb_pages()

    def header(self) -> None:
        self.set_font(FONT, "", 7.5)
        self.set_text_color(90)
        self.set_y(8)
        self.cell(self.epw / 2, 4, self.title_text[:70])
        self.cell(self.epw / 2, 4, f"Report {self.report_id}", align="R")
        self.set_text_color(0)
        self.set_xy(self.l_margin, 18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(90)
        self.cell(self.epw / 2, 4, f"Report {self.report_id}")
        self.cell(self.epw / 2, 4, f"Page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0)


def render_pdf_document(report: Report, embedded: str, *,
                        signoff: Mapping[str, Any] | None, attachment: str) -> bytes:
    """Return the PDF bytes of ``report`` with ``embedded`` attached as ``attachment``."""
    body = report.body
    pdf = _ReportPDF(str(body.get("report_id", report.audit_run_id)),
                     str(body.get("title", "Audit report")))
    sha = body_sha256(body)
    pdf.set_title(str(body.get("title", "Audit report")))
    pdf.set_subject(f"fairpanel report {body.get('report_id')}; body sha256 {sha}")
    pdf.set_creator("fairpanel")
    when = _when(report.generated_at)
    pdf.set_creation_date(when)
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    _text(pdf, 0, 8, str(body.get("title", "Audit report")))
    pdf.set_font(FONT, "", 8.5)
    _text(pdf, 0, 4.5, f"Report {body.get('report_id')} · audit run #{report.audit_run_id} "
                   f"· generated {report.generated_at}\nBody sha256 {sha}\nThe canonical JSON "
                   f"of this report is attached to this PDF as {attachment}.")
    for section in body.get("sections", []):
        _heading(pdf, str(section["title"]), 14, space=6)
        for b in section.get("blocks", []):
            _block(pdf, b, signoff)
    pdf.embed_file(bytes=embedded.encode("utf-8"), basename=attachment,
                   mime_type="application/json", desc="canonical JSON of the report",
                   creation_date=when, modification_date=when)
    return bytes(pdf.output())


def report_chart_png(b: Mapping[str, Any]) -> bytes:
    """Return a chart block's PNG, drawn once per process for the same block.

    Exporting and then verifying a report draws the same charts twice (the verifier
    re-renders the file); the PNG depends only on the block, so it is kept.
    """
    return _chart_png(json.dumps(b, sort_keys=True))


@lru_cache(maxsize=32)
def _chart_png(block_json: str) -> bytes:
    return chart_png(json.loads(block_json))


def format_cell(value: Any, fmt: str) -> str:
    """Return one table cell as text.

    Examples
    --------
    >>> format_cell({"value": 0.4234, "ci_low": 0.4, "ci_high": 0.45}, "ci")
    '0.423 [0.400, 0.450]'
    >>> format_cell(0.0004, "p"), format_cell(0.125, "pct"), format_cell(None, "rate")
    ('<0.001', '12.5%', 'n/a')
    """
    if value is None or (isinstance(value, Mapping) and value.get("value") is None):
        return "n/a"
    if fmt == "ci" and isinstance(value, Mapping):
        lo, hi = value.get("ci_low"), value.get("ci_high")
        interval = "" if lo is None or hi is None else f" [{lo:.3f}, {hi:.3f}]"
        return f"{value['value']:.3f}{interval}"
    if fmt == "rate":
        return f"{float(value):.3f}"
    if fmt == "pct":
        return f"{100 * float(value):.1f}%"
    if fmt == "p":
        return "<0.001" if float(value) < 0.001 else f"{float(value):.3f}"
    if fmt == "int":
        return str(int(value))
    return str(value)


def signoff_lines(signoff: Mapping[str, Any] | None, draft: str) -> list[str]:
    """Return the sign-off block as lines (the draft notice when there is none)."""
    if signoff is None:
        return [draft]
    labels = (("status", "Status"), ("approved_by", "Approved by"),
              ("approved_at", "Approved at"), ("note", "Approval note"),
              ("manifest_sha256", "Manifest sha256"), ("signature", "Signature (Ed25519)"),
              ("public_key", "Public key"))
    lines = [f"{label}: {signoff.get(key) if signoff.get(key) not in (None, '') else 'n/a'}"
             for key, label in labels]
    if signoff.get("key_fingerprint"):
        lines.append(f"Signing key fingerprint (sha256): {signoff['key_fingerprint']}")
    checkpoint = signoff.get("checkpoint")
    if isinstance(checkpoint, Mapping):
        lines.append(f"Anchored in the audit log by signed checkpoint #{checkpoint.get('id')} "
                     f"of entry {checkpoint.get('entry_id')} at {checkpoint.get('ts')}")
    return [*lines, "The full manifest (hashes of the data, model, configuration, results, "
                    "log head and code version) is in the embedded JSON; check it with "
                    "`fairpanel report verify FILE`."]


def _when(generated_at: str) -> datetime:
    try:
        when = datetime.fromisoformat(generated_at)
    except (TypeError, ValueError):
        return datetime(1970, 1, 1, tzinfo=UTC)  # a fixed date keeps the bytes repeatable
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _heading(pdf: FPDF, text: str, size: float, *, space: float) -> None:
    if pdf.get_y() > pdf.page_break_trigger - 35:
        pdf.add_page()
    pdf.ln(space)
    pdf.set_font(FONT, "B", size)
    _text(pdf, 0, size * 0.5, text)
    pdf.ln(1)


def _block(pdf: FPDF, b: Mapping[str, Any], signoff: Mapping[str, Any] | None) -> None:
    kind = b.get("type")
    pdf.set_font(FONT, "", BODY_PT)
    if kind == "paragraph":
        _text(pdf, 0, 5, str(b["text"]))
        pdf.ln(1.5)
    elif kind == "heading":
        _heading(pdf, str(b["text"]), 11.5, space=2)
    elif kind == "list":
        for item in b["items"]:
            pdf.set_x(pdf.l_margin)
            pdf.cell(5, 5, "•")
            _text(pdf, pdf.epw - 5, 5, str(item))
            pdf.ln(0.8)
    elif kind == "facts":
        _table(pdf, [[str(k), str(v)] for k, v in b["rows"]], (1.0, 3.2), header=False)
    elif kind == "table":
        _data_table(pdf, b)
    elif kind == "code":
        pdf.set_font(FONT, "I", 8.5)
        _text(pdf, 0, 4.2, str(b.get("caption", "")))
        pdf.set_font(MONO, "", 7.5)
        pdf.set_fill_color(245, 245, 245)
        pdf.multi_cell(0, 3.6, str(b["text"]), fill=True, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    elif kind == "chart":
        png = report_chart_png(b)
        pdf.image(io.BytesIO(png), w=pdf.epw)
        pdf.set_font(FONT, "I", 8.5)
        _text(pdf, 0, 4.2, str(b.get("caption", "")))
        pdf.ln(2)
    elif kind == "signoff":
        bold = signoff is None
        pdf.set_font(FONT, "B" if bold else "", 12 if bold else BODY_PT)
        for line in signoff_lines(signoff, str(b.get("draft", "Draft"))):
            _text(pdf, 0, 6, line)


def _data_table(pdf: FPDF, b: Mapping[str, Any]) -> None:
    columns = b["columns"]
    if pdf.get_y() > pdf.page_break_trigger - 25:
        pdf.add_page()
    pdf.set_font(FONT, "B", 9.5)
    _text(pdf, 0, 5, str(b.get("caption", "")))
    rows = [[str(c["label"]) for c in columns]]
    rows += [[format_cell(row.get(c["key"]), c["format"]) for c in columns]
             for row in b["rows"]]
    _table(pdf, rows, tuple(WEIGHTS.get(c["format"], 2.0) for c in columns), header=True)


def _table(pdf: FPDF, rows: list[list[str]], weights: tuple[float, ...], *,
           header: bool) -> None:
    pdf.set_font(FONT, "", TABLE_PT if header else 9.0)
    style = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))
    with pdf.table(col_widths=weights, width=pdf.epw, line_height=1.25 * pdf.font_size,
                   text_align="LEFT", first_row_as_headings=header,
                   headings_style=style, repeat_headings=1,
                   padding=0.8) as table:
        for values in rows:
            row = table.row()
            for value in values:
                row.cell(value)
    pdf.ln(3)


def _text(pdf: FPDF, width: float, height: float, text: str) -> None:
    pdf.multi_cell(width, height, text, new_x="LMARGIN", new_y="NEXT")
