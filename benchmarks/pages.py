"""Benchmark: how fast the dashboard's pages are, against the targets of issue 18.

The reference every figure is compared with is its target (there is no other tool to run
beside fairpanel here): each row prints the median, the target, their ratio
(median / target; under 1 meets the target) and "met?". In one run it

1. prepares the demo from a fresh ``FAIRPANEL_HOME`` with the project's own command
   (``fairpanel demo --no-serve``, timed: the *demo preparation* figure; skipped with
   ``--home`` to reuse a prepared folder);
2. starts the dashboard with the project's launch path (``fairpanel serve --auth demo``)
   bound to 127.0.0.1 on a free port, and stops it at the end;
3. drives Debian's Chromium with Playwright (headless, ``--no-sandbox``) and, for each demo
   persona and each repeat, in a fresh browser context: signs in (the *first page after
   sign-in*), opens every page of the persona's menu once (*cold*: the page's first visit
   in that browser context; the Plotly bundle may already have been loaded by an earlier
   page, as it would be for a person) and then every page again (*warm*: a revisit);
4. steps each slider (Deferral's, and the Fairness audit's threshold slider) with the
   arrow key, one step at a time, and picks another option of each filter (Deferral's
   "Disparity"), one at a time (*slider step*, *select box step*).

"Idle", the end of every timing, is all of the following at once, polled on every
animation frame: Streamlit's script state on ``stApp`` (``data-test-script-state``) is
``notRunning``; no running indicator (``[data-testid="stStatusWidget"]``) is shown; the
page's main content is rendered (for a navigation: the URL is the page's, or the app's
root for a role's home page, and the page's ``h1`` title is in the main area; for a slider
step: a run started by the key press has been seen, through a MutationObserver on the
state attribute that also catches a run shorter than one callback, or, for a fragment run
too short to show as running, a change of the main area's content outside the stepped
widget; and the slider or select box shows its new value); and every Plotly chart on the
page is laid out and drawn.
A timing starts just before the click or key press, on the Python side.

Targets (issue 18, on the machine the figures are published for): every page warm p50
under 1 s, the first page after sign-in under 3 s, a slider step under 300 ms, demo
preparation under 60 s. Figures are medians over ``--repeats`` (default 5). Other work on
the machine slows everything; the output prints the load average before and after.

What it prints: one row per (page or step, role) with the cold p50 (first visit), the
warm p50 (revisit; for the first page after sign-in, a slider step and demo preparation,
the only figure), the target, the ratio and "met?"; then the number of repeats and the
load average before and after (other work on the machine slows every figure). ``--json``
and ``--markdown`` write the same rows (JSON adds every raw timing).

    python benchmarks/pages.py                        # the default demo, every persona
    python benchmarks/pages.py --home DIR             # reuse a prepared FAIRPANEL_HOME
    python benchmarks/pages.py --dataset german_credit --personas "Data scientist" \\
        --pages Deferral --repeats 1 --markdown table.md --json figures.json

The full default run (5 repeats, every persona) takes about 15 minutes on a quiet
2-core machine; the browser is Debian's ``/usr/bin/chromium`` driven by Playwright.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.navigation import PAGES, pages_for  # noqa: E402
from audits.demo.default import DEMO_PERSONAS  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
#: Targets in seconds.
TARGET_WARM_S = 1.0
TARGET_FIRST_S = 3.0
TARGET_SLIDER_S = 0.3
TARGET_PREPARE_S = 60.0
#: A guard against a hang only (a page that never settles fails the run).
HANG_MS = int(float(os.environ.get("FAIRPANEL_BENCH_HANG_S", "300")) * 1000)
#: How long a widget the benchmark steps may take to appear on a page being drawn.
WIDGET_WAIT_MS = 15_000
VIEWPORT = {"width": 1440, "height": 900}
#: Sliders stepped: (page title, slider label). A slider not on the page, or disabled
#: (Deferral's once the panel's reviews measure human accuracy), is reported.
SLIDERS = (("Deferral", "Assumed human accuracy"),
           ("Fairness audit", "Threshold on the score"),
           ("Fairness audit", "Offset added to every group's thresholds"))
#: Filters changed: (page title, select box label); each step picks the next option.
SELECTS = (("Deferral", "Disparity"),)

#: Records every change of Streamlit's script state on ``stApp`` from now on.
WATCH = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  window.__fpRan = false;
  if (window.__fpWatch) window.__fpWatch.disconnect();
  window.__fpWatch = new MutationObserver((records) => {
    // A run can start and end between two callbacks: the old values show it.
    if (records.some(r => r.oldValue === 'running')
        || app.getAttribute('data-test-script-state') === 'running') window.__fpRan = true;
  });
  window.__fpWatch.observe(app, {attributes: true, attributeOldValue: true,
                                 attributeFilter: ['data-test-script-state']});
  // A short fragment run may never show as running: then a change of the page's content
  // outside the stepped widget (its chart or caption redrawn) marks the run instead.
  window.__fpChanged = false;
  if (window.__fpContent) window.__fpContent.disconnect();
  const main = document.querySelector('[data-testid="stMain"]');
  window.__fpContent = new MutationObserver((records) => {
    if (records.some(r => !(r.target.closest
                             && r.target.closest('[data-fp-bench-select], [data-fp-bench-slider]'))
                          && !(r.target.parentElement && r.target.parentElement.closest(
                             '[data-fp-bench-select], [data-fp-bench-slider]'))))
      window.__fpChanged = true;
  });
  if (main) window.__fpContent.observe(main, {childList: true, subtree: true,
                                              characterData: true});
}"""
#: Idle (see the module docstring); ``arg`` = {paths, title} or {slider, value}.
IDLE = """(arg) => {
  // A slider thumb is an <input type=range> (its value) or an ARIA slider (aria-valuenow).
  const _fpValue = (el) => el.value !== undefined ? String(el.value)
                                                 : el.getAttribute('aria-valuenow');
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  if (arg.paths !== undefined) {
    if (!arg.paths.includes(window.location.pathname.replace(/\\/$/, '').split('/').pop()))
      return false;
    const titles = [...document.querySelectorAll('[data-testid="stMain"] h1')];
    if (!titles.some(h => h.textContent.trim() === arg.title)) return false;
  } else if (!window.__fpRan && !window.__fpChanged) return false;
  if (arg.slider !== undefined) {
    const thumb = document.querySelector(arg.slider);
    if (!thumb || _fpValue(thumb) === arg.value) return false;
  }
  if (arg.select !== undefined) {
    // The chosen option shows as the combobox input's value (older: the box's text).
    const box = document.querySelector(arg.select);
    const input = box && box.querySelector('input');
    const shown = input ? input.value : (box ? box.textContent : '');
    if (!shown.includes(arg.text)) return false;
  }
  return [...document.querySelectorAll('.js-plotly-plot')]
    .every(c => c._fullLayout !== undefined && c.querySelector('.main-svg'));
}"""

#: What idle looks at, for the message of a page that never settles.
STATE = """() => ({state: document.querySelector('[data-testid="stApp"]')
                      .getAttribute('data-test-script-state'),
                  ran: window.__fpRan, path: window.location.pathname,
                  running: !!document.querySelector('[data-testid="stStatusWidget"]'),
                  titles: [...document.querySelectorAll('[data-testid="stMain"] h1')]
                          .map(h => h.textContent),
                  charts: document.querySelectorAll('.js-plotly-plot').length})"""


@dataclass
class Figures:
    """Every timing, in seconds, as lists over the repeats."""

    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    prepare: float | None = None
    first: dict[str, list[float]] = field(default_factory=dict)
    #: (page title, role) -> seconds; a slider's key is ("page: slider label", role).
    cold: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    warm: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    slider: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the table and return the rows (also ``--json``)."""
    args = _parser().parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} not found: this benchmark drives Debian's chromium")
    personas = [p for p in DEMO_PERSONAS
                if not args.personas or p.role.label in args.personas]
    unknown = set(args.personas or ()) - {p.role.label for p in DEMO_PERSONAS}
    if unknown:
        raise SystemExit(f"unknown persona(s) {sorted(unknown)}; choose from "
                         f"{[p.role.label for p in DEMO_PERSONAS]}")
    titles = {p.title for p in PAGES}
    if set(args.pages or ()) - titles:
        raise SystemExit(f"unknown page(s) {sorted(set(args.pages) - titles)}; choose from "
                         f"{sorted(titles)}")
    if args.repeats < 1:
        raise SystemExit("--repeats must be at least 1")
    figures = Figures(load_before=os.getloadavg())
    with _home(args.home) as home:
        settings = {"FAIRPANEL_HOME": str(home),
                    "FAIRPANEL_DATABASE_URL": f"sqlite:///{home / 'fairpanel.db'}"}
        if args.dataset:
            settings["FAIRPANEL_DEMO_DATASET"] = args.dataset
        if args.home is None or not (home / "fairpanel.db").exists():
            figures.prepare = _prepare(settings, args.dataset)
        with _server(settings) as url:
            _drive(url, personas, args, figures)
    figures.load_after = os.getloadavg()
    rows = _rows(figures)
    _print(rows, figures, args)
    if args.markdown:
        Path(args.markdown).write_text(_markdown(rows, figures, args), encoding="utf-8")
    out = {"rows": rows, "load_before": figures.load_before, "load_after": figures.load_after,
           "repeats": args.repeats, "missing": figures.missing, "raw": _raw(figures)}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return out


def _raw(figures: Figures) -> dict[str, Any]:
    """Every timing, JSON-safe: {"prepare": s, "first": {role: [s]}, "cold"/"warm"/"slider":
    [{"page", "role", "seconds"}]}."""
    return {"prepare": figures.prepare, "first": figures.first,
            **{kind: [{"page": page, "role": role, "seconds": seconds}
                      for (page, role), seconds in getattr(figures, kind).items()]
               for kind in ("cold", "warm", "slider")}}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="fresh contexts per persona")
    parser.add_argument("--personas", nargs="*", help="role labels, e.g. 'Data scientist'")
    parser.add_argument("--pages", nargs="*", help="page titles (default: every page)")
    parser.add_argument("--dataset", help="FAIRPANEL_DEMO_DATASET (default: the demo's)")
    parser.add_argument("--home", help="a FAIRPANEL_HOME to use (prepared when empty; "
                        "pass the --dataset it was prepared with); default: a fresh "
                        "temporary folder, deleted after")
    parser.add_argument("--slider-steps", type=int, default=5,
                        help="arrow-key steps per slider and repeat")
    parser.add_argument("--markdown", help="write the table as Markdown to this file")
    parser.add_argument("--json", help="write every figure as JSON to this file")
    return parser


@contextmanager
def _home(given: str | None) -> Iterator[Path]:
    if given is not None:
        path = Path(given).resolve()
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="fairpanel-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _env(settings: dict[str, str]) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # No file watcher: an edit to a source file while the benchmark runs would show
    # Streamlit's "source changed" prompt (and change what is measured).
    return {**os.environ, **settings, "PYTHONPATH": path,
            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}


def _prepare(settings: dict[str, str], dataset: str | None) -> float:
    """Time ``fairpanel demo --no-serve`` on the fresh home."""
    cmd = [sys.executable, "-m", "audits.cli", "demo", "--no-serve"]
    if dataset:
        cmd += ["--dataset", dataset]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=_env(settings), capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"demo preparation failed ({done.returncode}):\n{done.stderr}")
    return seconds


@contextmanager
def _server(settings: dict[str, str]) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    cmd = [sys.executable, "-m", "audits.cli", "serve", "--auth", "demo",
           "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=_env(settings), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield _wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        finally:
            proc.terminate()  # fairpanel serve passes SIGTERM on to streamlit
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Any) -> str:
    deadline = time.monotonic() + HANG_MS / 1000
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as answer:
                if answer.read().decode().strip() == "ok":
                    return url
        except (urllib.error.URLError, ConnectionError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise SystemExit("the dashboard did not start:\n"
                             + log.read().decode(errors="replace"))
        time.sleep(0.2)


def _drive(url: str, personas: list[Any], args: argparse.Namespace,
           figures: Figures) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    timeout=HANG_MS)
        try:
            for repeat in range(args.repeats):
                for persona in personas:
                    context = browser.new_context(viewport=VIEWPORT)
                    try:
                        _one_visit(context.new_page(), url, persona, args, figures,
                                   first_repeat=repeat == 0)
                    finally:
                        context.close()
        finally:
            browser.close()


def _appears(locator: Any) -> None:
    """Wait (at most :data:`WIDGET_WAIT_MS`) for a widget to be on the page."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        locator.wait_for(state="attached", timeout=WIDGET_WAIT_MS)
    except PlaywrightTimeout:
        return  # not there: the caller reports it as missing


def _settle(page: Any, arg: dict[str, Any]) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(IDLE, arg=arg, polling="raf", timeout=HANG_MS)
    except PlaywrightTimeout:
        raise SystemExit(f"the page never became idle waiting for {arg}: "
                         f"{page.evaluate(STATE)}") from None


def _one_visit(page: Any, url: str, persona: Any, args: argparse.Namespace,
               figures: Figures, *, first_repeat: bool) -> None:
    page.set_default_timeout(HANG_MS)
    role = persona.role.label
    page.goto(url)
    button = page.get_by_role("button", name=role, exact=True)
    button.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')"
                           ".getAttribute('data-test-script-state') === 'notRunning'")
    menu = list(pages_for(persona.role))
    home = menu[0]
    page.evaluate(WATCH)
    start = time.perf_counter()
    button.click()
    _settle(page, _target(home))
    figures.first.setdefault(role, []).append(time.perf_counter() - start)
    chosen = [s for s in menu if not args.pages or s.title in args.pages]
    sidebar = page.get_by_test_id("stSidebar")
    for kind in ("cold", "warm"):
        for spec in chosen:
            # Leave first (untimed), so every figure is a navigation to the page, the
            # home page's cold one too.
            _open(page, sidebar, _other(menu, spec))
            seconds = _click_link(page, sidebar, spec)
            getattr(figures, kind).setdefault((spec.title, role), []).append(seconds)
        if kind == "cold":
            _sliders(page, sidebar, menu, role, args, figures, first_repeat=first_repeat)
            _selects(page, sidebar, menu, role, args, figures, first_repeat=first_repeat)


def _target(spec: Any) -> dict[str, Any]:
    """What idle waits for after opening ``spec``: its URL path (or the app's root, where
    a role's home page is served) and its title."""
    return {"paths": [spec.url_path, ""], "title": spec.title}


def _other(menu: list[Any], spec: Any) -> Any:
    """A page to leave to before timing a visit to ``spec`` (My account: a light page)."""
    light = [s for s in menu if s is not spec and s.url_path == "account"]
    return light[0] if light else next(s for s in menu if s is not spec)


def _open(page: Any, sidebar: Any, spec: Any) -> None:
    """Open ``spec`` unless it is the page on screen (untimed)."""
    if page.url.rstrip("/").split("/")[-1] != spec.url_path:
        _click_link(page, sidebar, spec)


def _click_link(page: Any, sidebar: Any, spec: Any) -> float:
    """Click ``spec``'s sidebar link; return the seconds until the page is idle."""
    link = sidebar.get_by_role("link", name=spec.title, exact=True)
    page.evaluate(WATCH)
    start = time.perf_counter()
    link.click()
    _settle(page, _target(spec))
    return time.perf_counter() - start


def _sliders(page: Any, sidebar: Any, menu: list[Any], role: str,
             args: argparse.Namespace, figures: Figures, *, first_repeat: bool) -> None:
    titles = {s.title: s for s in menu}
    for title, label in SLIDERS:
        if title not in titles or (args.pages and title not in args.pages):
            continue
        _open(page, sidebar, titles[title])
        container = page.get_by_test_id("stSlider").filter(has_text=label)
        _appears(container.first)  # the page on screen may still be drawing its widgets
        if container.count() == 0:
            if first_repeat:
                figures.missing.append(f"{title} ({role}): no slider {label!r} on the page")
            continue
        thumb = container.first.get_by_role("slider")
        if thumb.is_disabled() or thumb.get_attribute("aria-disabled") == "true":
            if first_repeat:
                figures.missing.append(f"{title} ({role}): slider {label!r} is disabled "
                                       "(nothing to step)")
            continue
        container.first.evaluate("(el) => el.setAttribute('data-fp-bench-slider', '1')")
        thumb.scroll_into_view_if_needed()
        thumb.focus()
        selector = _slider_selector(page, thumb)
        for _ in range(args.slider_steps):
            value = _thumb_value(thumb)
            if value == (thumb.get_attribute("max") or thumb.get_attribute("aria-valuemax")):
                break
            page.evaluate(WATCH)
            start = time.perf_counter()
            page.keyboard.press("ArrowRight")
            _settle(page, {"slider": selector, "value": value})
            figures.slider.setdefault((f"{title}: {label} (slider)", role), []).append(
                time.perf_counter() - start)


def _selects(page: Any, sidebar: Any, menu: list[Any], role: str,
             args: argparse.Namespace, figures: Figures, *, first_repeat: bool) -> None:
    """Pick another option of each select box of :data:`SELECTS`, one step at a time."""
    titles = {s.title: s for s in menu}
    for title, label in SELECTS:
        if title not in titles or (args.pages and title not in args.pages):
            continue
        _open(page, sidebar, titles[title])
        container = page.get_by_test_id("stSelectbox").filter(has_text=label)
        if container.count() == 0:
            if first_repeat:
                figures.missing.append(f"{title} ({role}): no select box {label!r}")
            continue
        box = container.first
        box.evaluate("(el) => el.setAttribute('data-fp-bench-select', '1')")
        for _ in range(args.slider_steps):
            box.scroll_into_view_if_needed()
            box.get_by_role("button", name="Open").click()
            options = page.get_by_role("option")
            options.first.wait_for(state="visible")
            choices = [o for o in options.all() if o.get_attribute("aria-selected") != "true"]
            if not choices:
                page.keyboard.press("Escape")
                break
            option = choices[0]
            text = (option.inner_text() or "").strip()
            page.evaluate(WATCH)
            start = time.perf_counter()
            option.click()
            _settle(page, {"select": '[data-fp-bench-select="1"]', "text": text})
            figures.slider.setdefault((f"{title}: {label} (select box)", role), []).append(
                time.perf_counter() - start)


def _thumb_value(thumb: Any) -> str:
    """The slider's value: an ``<input type=range>``'s (Streamlit 1.5x and later) or an
    ARIA slider's ``aria-valuenow``."""
    return str(thumb.evaluate("(el) => el.value !== undefined ? String(el.value) "
                              ": el.getAttribute('aria-valuenow')") or "")


def _slider_selector(page: Any, thumb: Any) -> str:
    """A CSS selector of this thumb (marked with a data attribute) for the idle check."""
    thumb.evaluate("(el) => el.setAttribute('data-fp-bench', '1')")
    return '[data-fp-bench="1"]'


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _rows(figures: Figures) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if figures.prepare is not None:
        rows.append(_row("Demo preparation (fairpanel demo --no-serve, fresh home)", "-",
                         None, [figures.prepare], TARGET_PREPARE_S))
    for role, values in figures.first.items():
        rows.append(_row("First page after sign-in", role, None, values, TARGET_FIRST_S))
    for (title, role), cold in figures.cold.items():
        rows.append(_row(title, role, cold, figures.warm.get((title, role), []),
                         TARGET_WARM_S))
    for (name, role), values in figures.slider.items():
        rows.append(_row(f"Step: {name}", role, None, values, TARGET_SLIDER_S))
    return rows


def _row(page: str, role: str, cold: list[float] | None, values: list[float],
         target: float) -> dict[str, Any]:
    p50 = _median(values) if values else None
    return {"page": page, "role": role,
            "cold_p50_s": None if not cold else round(_median(cold), 3),
            "p50_s": None if p50 is None else round(p50, 3), "n": len(values),
            "target_s": target, "ratio": None if p50 is None else round(p50 / target, 2),
            "met": None if p50 is None else p50 < target}


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _table_lines(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(r["page"], r["role"], _cell(r["cold_p50_s"]), _cell(r["p50_s"]),
             f"< {r['target_s']:g} s", _cell(r["ratio"]),
             "-" if r["met"] is None else ("yes" if r["met"] else "NO")) for r in rows]


HEADER = ("page / step", "role", "cold p50 (s)", "warm p50 (s)", "target",
          "warm p50 / target", "met?")


def _print(rows: list[dict[str, Any]], figures: Figures, args: argparse.Namespace) -> None:
    lines = [HEADER, *_table_lines(rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    for line in lines:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    _notes(figures, args, print)


def _notes(figures: Figures, args: argparse.Namespace, out: Any) -> None:
    out(f"\nmedians of {args.repeats} repeat(s) (a slider: of every step of every repeat); "
        "the warm column of a step or of the first page is its only figure; ratio = "
        "median / target (under 1 meets it)")
    out(f"load average (1/5/15 min) "
        f"{' / '.join(f'{x:.2f}' for x in figures.load_before)} before, "
        f"{' / '.join(f'{x:.2f}' for x in figures.load_after)} after; "
        f"{os.cpu_count()} CPU(s)")
    if figures.prepare is None:
        out("demo preparation: not measured (--home held a prepared store)")
    for note in figures.missing:
        out(f"not measured: {note}")


def _markdown(rows: list[dict[str, Any]], figures: Figures, args: argparse.Namespace) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cells) + " |" for cells in _table_lines(rows)]
    notes: list[str] = []
    _notes(figures, args, notes.append)
    return "\n".join(lines) + "\n" + "\n".join(n.strip() for n in notes) + "\n"


if __name__ == "__main__":
    main()
