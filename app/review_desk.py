"""The reviewer desk's shared furniture: instructions, readable features, the scroll to the
next case, one-key shortcuts and the phone layout.

Used by My reviews and Adjudication (pages never import each other). Streamlit keeps the
scroll position across reruns and has no key bindings, so two tiny scripts run in
zero-height component frames and act on the page around them (the frames are served
from the app's own origin): :func:`scroll_to` brings a case's header to the top of the
viewport when a new case is drawn, and :func:`shortcuts` clicks a choice when its key
is pressed outside a text field. Both are plain DOM calls on elements Streamlit names
with ``st-key-<key>`` classes and ``data-testid`` attributes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from app import queue_tables
from app.formatting import plain, when
from audits.store.review_desk import ReviewInstructions
from audits.systems.card import column_labels

__all__ = ["Shortcut", "case_header", "feature_labels", "mark_instructions_read",
           "phone_layout", "scroll_to", "shortcut_caption", "shortcuts", "show_features",
           "show_instructions"]

#: The session key of the systems whose instructions this session has seen (a set).
KEY_SEEN = "review_desk.instructions_seen"
#: The containers of the two script frames (hidden).
SCRIPT_KEYS = ("review_desk.scroll_script", "review_desk.keys_script")
#: The heading anchor a new case scrolls to.
ANCHOR = "case"
#: One shortcut: the key, what it does (for the caption) and what it clicks, as
#: ``("radio", group index, option index)`` or ``("button", button label)``.
Shortcut = tuple[str, str, tuple[Any, ...]]

_SCROLL = """<script>
(function () {
  const doc = window.parent.document;
  function scroll() {
    const target = doc.getElementById(%(anchor)s);
    if (target) { target.scrollIntoView({block: "start", behavior: "instant"}); }
    return target;
  }
  // Again after the rest of the run has been drawn: elements above may still be settling.
  if (!scroll()) { setTimeout(scroll, 100); }
  [150, 400, 900].forEach(function (ms) { setTimeout(scroll, ms); });
})();
</script><!-- %(token)s -->"""

_KEYS = """<script>
(function () {
  const win = window.parent, doc = win.document;
  const desk = %(desk)s, map = %(map)s;
  const typing = ["text", "search", "email", "number", "password", "tel", "url", ""];
  if (win.__fairpanelDeskKeys) {
    win.removeEventListener("keydown", win.__fairpanelDeskKeys, true);
  }
  win.__fairpanelDeskKeys = function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    const t = event.target;
    if (t && (t.isContentEditable || t.tagName === "TEXTAREA" || t.tagName === "SELECT" ||
              (t.tagName === "INPUT" && typing.includes(t.type || "")))) { return; }
    const action = map[event.key.toLowerCase()];
    const root = doc.querySelector("." + desk);
    if (!action || !root) { return; }
    let target = null;
    if (action[0] === "radio") {
      const group = root.querySelectorAll('[data-testid="stRadio"]')[action[1]];
      target = group && group.querySelectorAll('label[data-testid="stRadioOption"]')[action[2]];
    } else {
      target = Array.from(root.querySelectorAll("button")).find(
        (b) => b.innerText.trim() === action[1]);
    }
    if (target) {
      // Handled here only: Streamlit's own one-key commands ("c" clears its cache) and
      // the browser never see it.
      event.preventDefault(); event.stopImmediatePropagation(); target.click();
    }
  };
  win.addEventListener("keydown", win.__fairpanelDeskKeys, true);
})();
</script>"""

_CSS = """<style>
/* Larger touch targets for the choices: the whole option is the target. */
.%(desk)s [data-testid="stRadio"] label[data-testid="stRadioOption"] {
  display: flex; align-items: center; min-height: 2.75rem; padding: 0 0.6rem 0 0.4rem;
  margin: 0 0 0.3rem 0; border: 1px solid rgba(128, 128, 128, 0.35);
  border-radius: 0.5rem;
}
.%(desk)s [data-testid="stRadio"] label[data-testid="stRadioOption"]:has(input:checked) {
  border-color: rgb(255, 75, 75); background: rgba(255, 75, 75, 0.06);
}
.%(desk)s [data-testid="stFormSubmitButton"] button { min-height: 2.75rem; }
.fp-instructions p { margin: 0 0 0.5rem 0; }
.fp-instructions ul { margin: 0 0 0.5rem 0; padding-left: 1.2rem; }
.fp-features { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr));
  gap: 0.15rem 1rem; margin: 0 0 0.5rem 0; }
.fp-feature { padding: 0.2rem 0; border-bottom: 1px solid rgba(128, 128, 128, 0.2);
  line-height: 1.25; }
.fp-feature .fp-name { font-size: 0.8rem; opacity: 0.7; }
.fp-feature .fp-value { font-weight: 600; overflow-wrap: anywhere; }
.fp-feature.fp-sensitive .fp-name::after { content: " · sensitive"; }
h3#%(anchor)s, #%(anchor)s { scroll-margin-top: 4rem; }
/* The script frames take no room. */
%(scripts)s { display: none; }
@media (max-width: 640px) {
  .fp-features { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0.1rem 0.75rem; }
  .fp-feature .fp-name { font-size: 0.75rem; }
  .fp-feature .fp-value { font-size: 0.9rem; }
}
</style>"""


def phone_layout(desk_key: str, *, hide_on_phone: Sequence[str] = ()) -> None:
    """Style the desk: larger choice targets, a compact feature grid, no room for scripts;
    the elements keyed ``hide_on_phone`` are not drawn on a narrow screen."""
    hidden = ", ".join(f".{_class(k)}" for k in hide_on_phone)
    extra = f"@media (max-width: 640px) {{ {hidden} {{ display: none; }} }}" if hidden else ""
    scripts = ", ".join(f".{_class(k)}" for k in SCRIPT_KEYS)
    st.html((_CSS % {"desk": _class(desk_key), "anchor": ANCHOR, "scripts": scripts}).replace(
        "</style>", extra + "</style>"))


def case_header(case_id: int, system_name: str | None) -> None:
    """The case's heading, with its system's name, anchored for :func:`scroll_to`."""
    system = "" if not system_name else f" · {plain(system_name)}"
    st.subheader(f"Case {case_id}{system}", anchor=ANCHOR)


def scroll_to(token: str) -> None:
    """Bring the case header to the top of the viewport when ``token`` is new.

    The script runs when its frame is made, and Streamlit makes a new frame only when
    the content changes: ``token`` (the case and its form) changes with each new case,
    so a rerun that keeps the case (a validation error, say) leaves the scroll alone.
    """
    _script(_SCROLL % {"anchor": json.dumps(ANCHOR), "token": html.escape(token)},
            SCRIPT_KEYS[0])


def shortcuts(desk_key: str, keys: Sequence[Shortcut]) -> None:
    """Listen for one-key shortcuts on the page and click what each names.

    Nothing happens while the focus is in a text field (the rationale, a search box) or
    with Ctrl, Alt or Cmd held, so typing and the submit shortcut are untouched. The
    listener sits on the page's window in the capture phase and stops a key it handles,
    so Streamlit's own one-key commands ("c" clears its cache) never see it.
    """
    mapping = {key.lower(): list(action) for key, _, action in keys}
    _script(_KEYS % {"desk": json.dumps(_class(desk_key)), "map": json.dumps(mapping)},
            SCRIPT_KEYS[1])


def shortcut_caption(keys: Sequence[Shortcut], submit: str) -> str:
    """The line that tells a reviewer the keys (``submit``: the form's own shortcut)."""
    parts = [f"**{plain(key.upper())}** {plain(what)}" for key, what, _ in keys]
    return "Keys: " + " · ".join([*parts, f"**{submit}** submit"]) + \
        " (not while typing in a text box)."


def feature_labels(snapshot: Mapping[str, Any], card_columns: Sequence[Mapping[str, Any]],
                   system_name: str | None) -> dict[str, str]:
    """Readable labels for the columns a snapshot shows (see :func:`column_labels`)."""
    seen = queue_tables.reviewer_snapshot(snapshot)
    names = [*(seen.get("sensitive") or {}), *(seen.get("features") or {})]
    return column_labels(names, {"columns": list(card_columns)}, system=system_name)


def show_features(snapshot: Mapping[str, Any], labels: Mapping[str, str]) -> None:
    """The case's features as a compact grid of readable name and value."""
    table = queue_tables.feature_table(snapshot)
    cells = []
    for name, value, kind in table.itertuples(index=False):
        extra = " fp-sensitive" if kind == "sensitive" else ""
        cells.append(f'<div class="fp-feature{extra}" title="{html.escape(str(name))}">'
                     f'<div class="fp-name">{html.escape(labels.get(name, str(name)))}</div>'
                     f'<div class="fp-value">{html.escape(str(value))}</div></div>')
    st.html('<div class="fp-features">' + "".join(cells) + "</div>")


def mark_instructions_read(system_name: str | None) -> None:
    """Remember that this session answered a case of the system (its instructions are
    then drawn collapsed)."""
    st.session_state.setdefault(KEY_SEEN, set()).add(system_name or "")


def show_instructions(instructions: ReviewInstructions | None, options: Mapping[int, str],
                      ) -> None:
    """The panel lead's instructions: open until the session's first answer to a case of
    the system (:func:`mark_instructions_read`), collapsed after."""
    if instructions is None:
        return
    read = (instructions.system_name or "") in st.session_state.get(KEY_SEEN, set())
    with st.expander("Instructions: what you decide", expanded=not read,
                     icon=":material/menu_book:"):
        st.html(instructions_html(instructions, options))
        st.caption(f"Written by {plain(instructions.updated_by)}, "
                   f"{when(instructions.updated_at)}." if instructions.written
                   else "General instructions: the panel lead has not written this "
                   "system's own yet.")


def instructions_html(instructions: ReviewInstructions, options: Mapping[int, str]) -> str:
    """The instructions as escaped HTML (a person's text: never Markdown, never a link).

    Examples
    --------
    >>> from audits.store.review_desk import default_instructions
    >>> text = instructions_html(default_instructions("x", "<b>ok</b>"), {1: "Yes", 0: "No"})
    >>> "&lt;b&gt;ok&lt;/b&gt;" in text and "<b>ok</b>" not in text
    True
    """
    items = "".join(f"<li><strong>{html.escape(options.get(label, str(label)))}</strong>: "
                    f"{html.escape(instructions.meaning(label))}</li>" for label in (1, 0))
    notes = f"<p>{html.escape(instructions.notes)}</p>" if instructions.notes else ""
    return (f'<div class="fp-instructions"><p>{html.escape(instructions.question)}</p>'
            f"<ul>{items}</ul>{notes}</div>")


def _script(page: str, key: str) -> None:
    """Run ``page`` (our own fixed script, never data) in a frame that is not shown.

    The frame sits in a container keyed ``key``, hidden by :func:`phone_layout`'s style
    (a hidden frame still loads and runs its script).
    """
    with st.container(key=key):
        st.iframe(page, height=1)


def _class(key: str) -> str:
    """The class Streamlit gives the element keyed ``key``."""
    return "st-key-" + "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "-"
                               for c in key.strip())
