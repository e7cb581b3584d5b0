"""The only module that reads or writes ``st.session_state``.

Keys are namespaced ``"<area>.<name>"`` (``"auth.user"``; widget keys such as
``"users.add.username"``) so pages never collide. What a session holds about its user
is the username, the role and the sign-in mode; the entry script re-reads the user
from the store on every run, so a deactivated user or a changed role takes effect at
once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from audits.roles import Actor, Authentication, Role

__all__ = [
    "KEY_REVIEW_CASE",
    "KEY_USER",
    "MODES",
    "QUERY_CASE",
    "ReviewForm",
    "SignedInUser",
    "choose_review_case",
    "current_actor",
    "current_user",
    "finish_review_form",
    "flash",
    "forget",
    "forget_flash",
    "keep_choice",
    "pending_review_form",
    "preselect",
    "recall",
    "remember",
    "review_case",
    "review_form",
    "sign_in",
    "sign_out",
    "take_flash",
]

#: Session key of the signed-in user: a plain dict (username, role, mode, display_name).
KEY_USER = "auth.user"
#: The sign-in modes: OIDC through ``st.login``, local accounts, demo personas.
MODES = ("oidc", "local", "demo")
#: How each mode authenticated the session, as a sign-off's log entry records it.
AUTHENTICATED_BY = {"oidc": "oidc", "local": "session", "demo": "demo"}

#: Session key of the case a reviewer chose to open (None: their first open case).
KEY_REVIEW_CASE = "my_reviews.case_id"
#: Session key of the rating forms drawn: case id -> (idempotency key, time first drawn).
KEY_REVIEW_FORMS = "my_reviews.forms"
#: Session key of messages kept for the next run (a page that reruns after a write).
KEY_FLASH = "flash"
#: The URL query parameter that opens one case (``/my-reviews?case=123``).
QUERY_CASE = "case"

MSG_BAD_MODE = "unknown sign-in mode {mode!r}; choose one of: {choices}"


@dataclass(frozen=True)
class SignedInUser:
    """Who is signed in to this session, and how."""

    username: str
    role: Role
    mode: str
    display_name: str

    @property
    def actor(self) -> Actor:
        """The :class:`~audits.roles.Actor` the engine's write paths take."""
        return Actor(self.username, self.role)

    @property
    def authentication(self) -> Authentication:
        """How this session's user was authenticated, for the log of a sign-off."""
        return Authentication(AUTHENTICATED_BY[self.mode], "dashboard", asserted=self.username)


def sign_in(actor: Actor, mode: str, *, display_name: str | None = None) -> None:
    """Record ``actor`` as this session's user, signed in through ``mode``.

    Everything a previous user left in the session is dropped first.
    """
    if mode not in MODES:
        raise ValueError(MSG_BAD_MODE.format(mode=mode, choices=", ".join(MODES)))
    st.session_state.clear()
    st.session_state[KEY_USER] = {
        "username": actor.username,
        "role": actor.role.value,
        "mode": mode,
        "display_name": display_name or actor.username,
    }


def sign_out() -> None:
    """Forget the user and every page's state (nothing leaks to the next persona)."""
    st.session_state.clear()


def current_user() -> SignedInUser | None:
    """Return the signed-in user, or None."""
    raw = st.session_state.get(KEY_USER)
    if not isinstance(raw, dict):
        return None
    try:
        role = Role.parse(raw["role"])
        return SignedInUser(username=str(raw["username"]), role=role, mode=str(raw["mode"]),
                            display_name=str(raw.get("display_name") or raw["username"]))
    except (KeyError, ValueError):
        return None


def current_actor() -> Actor | None:
    """Return the signed-in user as an :class:`~audits.roles.Actor`, or None."""
    user = current_user()
    return None if user is None else user.actor


def preselect(key: str, value: Any) -> None:
    """Make the widget ``key`` show ``value`` on this run; call before drawing it.

    E.g. the fairness page selects the run it has just stored. The widget must then be
    drawn without a default of its own (Streamlit warns when both are given).
    """
    st.session_state[key] = value


def keep_choice(key: str, options: Sequence[Any], default: Any) -> None:
    """Start the widget ``key`` at ``default`` unless it already holds one of ``options``.

    Call before drawing a keyed selectbox without a default: its first value is
    ``default``, and a value that is no longer an option (a run of another dataset, a
    deleted record) falls back to ``default`` instead of raising.
    """
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def forget(key: str) -> None:
    """Drop ``key`` from the session (a widget then starts again from its default)."""
    st.session_state.pop(key, None)


def remember(key: str, value: Any) -> None:
    """Keep ``value`` under ``key`` for the rest of the session (not a widget's value;
    e.g. the New system page's decisions, read once, and the paths of its uploads)."""
    st.session_state[key] = value


def recall(key: str) -> Any:
    """Return what :func:`remember` kept under ``key``, or None."""
    return st.session_state.get(key)


def flash(area: str, kind: str, message: str) -> None:
    """Keep ``message`` for the next run of the page ``area`` (``kind``: success/error)."""
    st.session_state.setdefault(KEY_FLASH, {})[area] = (kind, message)


def take_flash(area: str, *, keep: bool = False) -> tuple[str, str] | None:
    """Return the message kept for ``area`` (or None), forgetting it unless ``keep``.

    A kept message stays until the next :func:`flash` or :func:`forget_flash`: a run
    interrupted by another click does not lose it.
    """
    kept = st.session_state.get(KEY_FLASH) or {}
    return kept.get(area) if keep else kept.pop(area, None)


def forget_flash(area: str) -> None:
    """Drop the message kept for ``area``."""
    (st.session_state.get(KEY_FLASH) or {}).pop(area, None)


# -- the reviewer's rating form ---------------------------------------------------------


@dataclass(frozen=True)
class ReviewForm:
    """The rating form drawn for one case: its idempotency key and when it was first drawn.

    ``key`` goes with every submission of this form, so a double click or a resubmit
    stores the rating once; ``drawn_at`` (seconds since the epoch) gives the time spent.
    """

    case_id: int
    key: str
    drawn_at: float

    def seconds_spent(self, now: float | None = None) -> float:
        """Return the seconds since the form was first drawn (never negative)."""
        return max(0.0, (time.time() if now is None else now) - self.drawn_at)


def review_case() -> str | None:
    """Return the case the reviewer asked for: ``?case=`` in the URL, else their choice.

    The value is returned as given (the page checks it is an id, and the engine whether
    the case is the reviewer's); None means "the first open case".
    """
    asked = st.query_params.get(QUERY_CASE)
    if asked:
        return str(asked)
    chosen = st.session_state.get(KEY_REVIEW_CASE)
    return None if chosen is None else str(chosen)


def choose_review_case(case_id: int | None) -> None:
    """Open ``case_id`` next (None: the first open case); a ``?case=`` in the URL is dropped."""
    st.session_state[KEY_REVIEW_CASE] = case_id
    if QUERY_CASE in st.query_params:
        del st.query_params[QUERY_CASE]


def review_form(case_id: int) -> ReviewForm:
    """Return the form state of ``case_id``, made now (new key, current time) if none is kept.

    Kept across reruns until :func:`finish_review_form`, so every submission of the
    form as drawn carries the same idempotency key.
    """
    forms = st.session_state.setdefault(KEY_REVIEW_FORMS, {})
    if case_id not in forms:
        forms[case_id] = (secrets.token_urlsafe(24), time.time())
    key, drawn_at = forms[case_id]
    return ReviewForm(case_id, str(key), float(drawn_at))


def pending_review_form(case_id: int) -> ReviewForm | None:
    """Return the form of ``case_id`` drawn in this session and not yet stored, or None."""
    kept = (st.session_state.get(KEY_REVIEW_FORMS) or {}).get(case_id)
    return None if kept is None else ReviewForm(case_id, str(kept[0]), float(kept[1]))


def finish_review_form(case_id: int) -> None:
    """Forget the form of ``case_id`` after a stored submission (a new form gets a new key)."""
    forms = st.session_state.get(KEY_REVIEW_FORMS) or {}
    forms.pop(case_id, None)
