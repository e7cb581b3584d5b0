"""Print a :class:`~audits.reports.report.Report` as canonical JSON, one HTML file, or a PDF.

Every format embeds the same canonical JSON of the report (and its sign-off), so a
verifier reads it back with :func:`read_embedded_json` and checks the body's sha256: in
HTML inside ``<script type="application/json" id="fairpanel-report">``, in a PDF as the
attached file :data:`ATTACHMENT`. The HTML works offline: inline CSS, charts as base64
PNG, no external address.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from audits.reports.pdf import (
    format_cell,
    render_pdf_document,
    report_chart_png,
    signoff_lines,
)
from audits.reports.report import Report, body_sha256, canonical_json

__all__ = ["ATTACHMENT", "MSG_NO_EMBEDDED", "format_cell", "read_embedded_json", "render_html",
           "render_json", "render_pdf", "signoff_lines"]

ATTACHMENT = "fairpanel-report.json"
MSG_NO_EMBEDDED = "{source} holds no embedded fairpanel report (HTML, JSON or PDF expected)"
_SCRIPT = re.compile(r'<script type="application/json" id="fairpanel-report">(.*?)</script>',
                     re.DOTALL)
CSS = """
body{font-family:Georgia,'Times New Roman',serif;max-width:60em;margin:2em auto;
padding:0 1em;color:#111;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:2px solid #333;margin-top:2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.85em;width:100%}
th,td{border:1px solid #999;padding:.2em .4em;text-align:left;vertical-align:top}
th{background:#eee}td.num{text-align:right;white-space:nowrap}caption{text-align:left;
font-weight:bold;padding:.3em 0}.meta{color:#444;font-size:.9em}
.draft{color:#b2182b;font-weight:bold}img{max-width:100%}
dl.facts{display:grid;grid-template-columns:14em 1fr;gap:.2em 1em}dt{font-weight:bold}
dd{margin:0;overflow-wrap:anywhere}
pre{background:#f5f5f5;padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere;
font-size:.8em}
@media print{h2{page-break-before:auto}table{page-break-inside:auto}}
"""


def render_json(report: Report, *, signoff: Mapping[str, Any] | None = None) -> str:
    """Return the report (and sign-off) as canonical JSON: sorted keys, indent 2.

    Examples
    --------
    >>> print(render_json(Report(1, {"a": 1}, "2026-01-01T00:00:00+00:00"))[:18])
    {
      "audit_run_id"
    """
    return canonical_json(report.to_dict(signoff))


def render_html(report: Report, *, signoff: Mapping[str, Any] | None = None) -> str:
    """Return the report as one self-contained HTML page that embeds its JSON."""
    body = report.body
    embedded = render_json(report, signoff=signoff).replace("</", "<\\/")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{_e(body.get('title', 'Audit report'))}</title>",
             f"<style>{CSS}</style></head><body>",
             f"<h1>{_e(body.get('title', 'Audit report'))}</h1>",
             f'<p class="meta">Report {_e(body.get("report_id", ""))} &middot; audit run '
             f"#{report.audit_run_id} &middot; generated {_e(report.generated_at)} &middot; "
             f"body sha256 <code>{body_sha256(body)}</code></p>"]
    for section in body.get("sections", []):
        parts.append(f'<section id="{_e(section["key"])}"><h2>{_e(section["title"])}</h2>')
        parts += [_html_block(b, signoff) for b in section.get("blocks", [])]
        parts.append("</section>")
    parts.append(f'<script type="application/json" id="fairpanel-report">{embedded}</script>')
    parts.append("</body></html>")
    return "\n".join(parts)


def render_pdf(report: Report, *, signoff: Mapping[str, Any] | None = None) -> bytes:
    """Return the report as an A4 PDF with its canonical JSON attached."""
    return render_pdf_document(report, render_json(report, signoff=signoff),
                               signoff=signoff, attachment=ATTACHMENT)


def read_embedded_json(source: str | Path | bytes) -> dict[str, Any]:
    """Return the report JSON embedded in an HTML, JSON or PDF file (path or bytes).

    Raises
    ------
    ValueError
        Nothing embedded (:data:`MSG_NO_EMBEDDED`).

    Examples
    --------
    >>> text = render_json(Report(3, {"a": 1}, "t"))
    >>> read_embedded_json(text.encode())["audit_run_id"]
    3
    """
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else bytes(source)
    name = str(source) if isinstance(source, (str, Path)) else "the given bytes"
    if data.startswith(b"%PDF"):
        from pypdf import PdfReader  # only verifiers need pypdf

        attached = PdfReader(io.BytesIO(data)).attachments.get(ATTACHMENT)
        if not attached:
            raise ValueError(MSG_NO_EMBEDDED.format(source=name))
        return dict(json.loads(attached[0]))
    text = data.decode("utf-8")
    if text.lstrip().startswith("{"):
        return dict(json.loads(text))
    match = _SCRIPT.search(text)
    if match is None:
        raise ValueError(MSG_NO_EMBEDDED.format(source=name))
    return dict(json.loads(match.group(1)))


def _html_block(b: Mapping[str, Any], signoff: Mapping[str, Any] | None) -> str:
    kind = b.get("type")
    if kind == "paragraph":
        return f"<p>{_e(b['text'])}</p>"
    if kind == "heading":
        return f"<h3>{_e(b['text'])}</h3>"
    if kind == "list":
        return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in b["items"]) + "</ul>"
    if kind == "facts":
        return ('<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>"
                                                 for k, v in b["rows"]) + "</dl>")
    if kind == "table":
        return _html_table(b)
    if kind == "code":
        return (f'<figure><figcaption>{_e(b.get("caption", ""))}</figcaption>'
                f'<pre><code>{_e(b["text"])}</code></pre></figure>')
    if kind == "chart":
        png = base64.b64encode(report_chart_png(b)).decode("ascii")
        return (f'<figure><img alt="{_e(b.get("caption", "chart"))}" '
                f'src="data:image/png;base64,{png}"><figcaption>{_e(b.get("caption", ""))}'
                "</figcaption></figure>")
    if kind == "signoff":
        lines = signoff_lines(signoff, str(b.get("draft", "Draft")))
        css = ' class="draft"' if signoff is None else ""
        return "".join(f"<p{css}>{_e(line)}</p>" for line in lines)
    return ""


def _html_table(b: Mapping[str, Any]) -> str:
    columns = b["columns"]
    head = "".join(f"<th>{_e(c['label'])}</th>" for c in columns)
    rows = []
    for row in b["rows"]:
        cells = "".join(
            f'<td{" class=num" if c["format"] != "text" else ""}>'
            f'{_e(format_cell(row.get(c["key"]), c["format"]))}</td>' for c in columns)
        rows.append(f"<tr>{cells}</tr>")
    return (f'<table id="{_e(b.get("id", ""))}"><caption>{_e(b.get("caption", ""))}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
