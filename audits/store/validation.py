"""Checks of the store's inputs, run before any transaction opens, and their messages.

Each check returns the normalised value or raises ``ValueError``/``TypeError`` with a
message naming the field, so a bad call writes nothing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from audits.roles import Actor
from audits.store.log import canonical_json

__all__ = [
    "check_actor",
    "check_id",
    "check_json_object",
    "check_names",
    "check_password",
    "check_sha256",
    "check_text",
    "check_username",
]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")

MSG_NOT_ACTOR = "actor must be an audits.roles.Actor; got {type}"
MSG_BAD_USERNAME = (
    "username {username!r} is invalid: use 1 to 64 letters, digits or the characters . _ @ -"
)
MSG_NOT_STRING = "{field} must be a string; got {type}"
MSG_PASSWORD_LENGTH = "password must be {min} to {max} characters long; got {n}"
MSG_EMPTY_TEXT = "{field} must not be empty"
MSG_TEXT_TOO_LONG = "{field} must be at most {max} characters; got {n}"
MSG_BAD_SHA256 = "{field} must be 64 hexadecimal characters; got {value!r}"
MSG_BAD_COUNT = "{field} must be a non-negative integer; got {value!r}"
MSG_BAD_ID = "{field} must be a positive integer; got {value!r}"
MSG_NOT_OBJECT = "{field} must be a dict with string keys; got {type}"
MSG_NOT_JSON_FIELD = "{field} is not JSON-serialisable: {error}"
MSG_NOT_NAMES = "{field} must be a list of distinct non-empty strings; {problem}"


def check_actor(actor: object) -> Actor:
    """Return ``actor`` if it is an :class:`~audits.roles.Actor`, else raise ``TypeError``."""
    if not isinstance(actor, Actor):
        raise TypeError(MSG_NOT_ACTOR.format(type=type(actor).__name__))
    return actor


def check_username(value: object) -> str:
    """Return a valid username: 1-64 of ``[A-Za-z0-9_.@-]``.

    Examples
    --------
    >>> check_username("ada.lovelace@example.org")
    'ada.lovelace@example.org'
    """
    if not isinstance(value, str):
        raise TypeError(MSG_NOT_STRING.format(field="username", type=type(value).__name__))
    if USERNAME_PATTERN.fullmatch(value) is None:
        raise ValueError(MSG_BAD_USERNAME.format(username=value))
    return value


def check_password(value: object) -> str:
    """Return ``value`` if it is a password of acceptable length."""
    if not isinstance(value, str):
        raise TypeError(MSG_NOT_STRING.format(field="password", type=type(value).__name__))
    if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        limits = {"min": MIN_PASSWORD_LENGTH, "max": MAX_PASSWORD_LENGTH}
        raise ValueError(MSG_PASSWORD_LENGTH.format(**limits, n=len(value)))
    return value


def check_text(value: object, field: str, max_len: int | None, *, empty: bool = False) -> str:
    """Return ``value`` stripped of surrounding whitespace, checking type and length.

    Examples
    --------
    >>> check_text("  adult census ", "name", 200)
    'adult census'
    """
    if not isinstance(value, str):
        raise TypeError(MSG_NOT_STRING.format(field=field, type=type(value).__name__))
    text = value.strip()
    if not text and not empty:
        raise ValueError(MSG_EMPTY_TEXT.format(field=field))
    if max_len is not None and len(text) > max_len:
        raise ValueError(MSG_TEXT_TOO_LONG.format(field=field, max=max_len, n=len(text)))
    return text


def check_sha256(value: object, field: str = "sha256") -> str:
    """Return a sha256 hex digest in lower case.

    Examples
    --------
    >>> check_sha256("AB" * 32) == "ab" * 32
    True
    """
    if not isinstance(value, str) or re.fullmatch(r"[0-9a-fA-F]{64}", value) is None:
        raise ValueError(MSG_BAD_SHA256.format(field=field, value=value))
    return value.lower()


def check_count(value: object, field: str) -> int:
    """Return ``value`` if it is an integer >= 0 (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(MSG_BAD_COUNT.format(field=field, value=value))
    return value


def check_id(value: object, field: str) -> int:
    """Return ``value`` if it is an integer >= 1 (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(MSG_BAD_ID.format(field=field, value=value))
    return value


def check_json_object(value: object, field: str) -> dict[str, Any]:
    """Return a JSON round-tripped copy of a dict with string keys.

    Examples
    --------
    >>> check_json_object({"tau": 0.8, "groups": ("a", "b")}, "config")
    {'groups': ['a', 'b'], 'tau': 0.8}
    """
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(MSG_NOT_OBJECT.format(field=field, type=type(value).__name__))
    try:
        copy: dict[str, Any] = json.loads(canonical_json(dict(value)))
    except ValueError as error:
        raise ValueError(MSG_NOT_JSON_FIELD.format(field=field, error=error)) from None
    return copy


def check_names(value: object, field: str) -> list[str]:
    """Return ``value`` as a list of distinct non-empty strings.

    Examples
    --------
    >>> check_names(("age", "hours"), "feature_names")
    ['age', 'hours']
    """
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise ValueError(MSG_NOT_NAMES.format(field=field, problem=f"got {type(value).__name__}"))
    names = list(value)
    bad = [n for n in names if not isinstance(n, str) or not n]
    if bad:
        raise ValueError(MSG_NOT_NAMES.format(field=field, problem=f"bad entry {bad[0]!r}"))
    dupes = sorted(n for n, count in Counter(names).items() if count > 1)
    if dupes:
        raise ValueError(MSG_NOT_NAMES.format(field=field, problem=f"repeated {dupes}"))
    return names
