"""Live decisions: the stream a system sends to the decision API, as it happens.

Volume per hour and how much of it waits for a person, why decisions are held, how long
a person takes (median and 95th percentile), service-level breaches, what the review
budget let through unreviewed, and, by group of the people decided about, the held rate
and the override rate with intervals (:func:`audits.live.monitor.live_overview`).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from app import auth, loaders, state
from app.formatting import plain
from audits.live.monitor import LiveOverview, live_overview

PAGE = "app_pages/live.py"
KEY_SYSTEM = "live.system"
KEY_ATTRIBUTE = "live.attribute"


def render() -> None:
    """Draw the page."""
    auth.require_page(PAGE)
    store = loaders.get_store()
    st.title("Live decisions")
    st.caption("Decisions a system sends before they take effect (fairpanel api): which "
               "ones wait for a person, how long a person takes, and whether some groups "
               "wait, or are overruled, more often than others.")
    systems = [s.name for s in store.list_systems() if store.live_decisions(s.name)]
    if not systems:
        st.info("No system has sent live decisions yet. Create a token with `fairpanel "
                "tokens create --system NAME --scope decide` and start `fairpanel api`; see "
                "the README's \"Live decisions\".")
        return
    state.keep_choice(KEY_SYSTEM, systems, systems[0])
    left, right = st.columns(2)
    system = left.selectbox("System", systems, key=KEY_SYSTEM)
    records = store.live_decisions(str(system))
    attributes = sorted({k for r in records for k in r.sensitive})
    attribute = right.selectbox("Groups by", ["every sensitive feature", *attributes],
                                key=KEY_ATTRIBUTE)
    overview = live_overview(records, attribute=None if attribute == "every sensitive feature"
                             else str(attribute))
    _tiles(overview)
    _per_hour(overview)
    _reasons_and_groups(overview)


def _tiles(overview: LiveOverview) -> None:
    wait = overview.time_to_person_s
    figures = [
        ("Decisions", f"{overview.n:,}", None),
        ("Held for a person", f"{overview.n_held:,} ({overview.n_held / max(overview.n, 1):.1%})",
         None),
        ("Waiting now", f"{overview.n_pending:,}", None),
        ("Time to a person's decision",
         "-" if wait["median_s"] is None else _duration(wait["median_s"]),
         None if wait["median_s"] is None else
         f"median of {wait['n']:,}; 95th percentile {_duration(wait['p95_s'])}"),
        ("Past the service level", f"{overview.n_escalated:,}",
         f"sent to the panel lead; {overview.n_fallback:,} then decided by the fallback"),
        ("Unreviewed: budget spent", f"{overview.n_unreviewed_budget:,}",
         "decided automatically because the review budget was spent"),
    ]
    for column, (label, value, note) in zip(st.columns(3) + st.columns(3), figures,
                                             strict=True):
        column.metric(label, value, border=True)
        if note:
            column.caption(note)


def _duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _per_hour(overview: LiveOverview) -> None:
    table = overview.per_hour
    figure = go.Figure([go.Bar(x=table["hour"], y=table["decisions"] - table["held"],
                               name="decided automatically", marker_color="#56B4E9"),
                        go.Bar(x=table["hour"], y=table["held"], name="held for a person",
                               marker_color="#D55E00")])
    figure.update_layout(barmode="stack", height=280, margin={"t": 30, "b": 10},
                         title="Decisions per hour", legend={"orientation": "h"})
    st.plotly_chart(figure, key="live.per_hour")


def _reasons_and_groups(overview: LiveOverview) -> None:
    left, right = st.columns([1, 2])
    left.subheader("Why held")
    reasons = overview.held_by_reason.assign(share=lambda t: t["share"].map("{:.1%}".format))
    left.dataframe(reasons, hide_index=True, width="stretch", key="live.reasons")
    right.subheader("By group")
    groups = overview.by_group
    shown = groups.assign(
        group=groups["group"].map(plain),
        held=[f"{h:,} of {n:,}: {r:.1%} [{lo:.1%}, {hi:.1%}]" for h, n, r, lo, hi in zip(
            groups["held"], groups["n"], groups["held_rate"], groups["held_low"],
            groups["held_high"], strict=True)],
        overridden=["-" if d == 0 else f"{o:,} of {d:,}: {r:.1%} [{lo:.1%}, {hi:.1%}]"
                    for o, d, r, lo, hi in zip(groups["overridden"],
                                               groups["decided_by_person"],
                                               groups["override_rate"], groups["override_low"],
                                               groups["override_high"], strict=True)],
    )[["group", "held", "overridden"]]
    right.dataframe(shown, hide_index=True, width="stretch", key="live.groups")
    right.caption("Held: decisions about the group that waited for a person. Overridden: "
                  "of those a person decided, how often the person changed the model's "
                  "decision. 95% Wilson intervals; groups whose intervals do not overlap "
                  "are treated differently by the system or by the panel.")


render()
