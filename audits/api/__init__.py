"""The decision API: live decisions held for a person before they take effect.

Owns the HTTP service (FastAPI on uvicorn) that ``fairpanel api`` starts over the same
store as the dashboard (:mod:`~audits.api.app`): bearer tokens per system and scope,
one decision or a batch per call, the answer and later the final decision, an OpenAPI
document and its pages served offline. What is held and why is
:mod:`audits.live`'s; this package only speaks HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from audits._lazy import lazy_getattr

if TYPE_CHECKING:
    from audits.api.app import DEFAULT_MAX_BODY, DEFAULT_RATE, create_app

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_RATE", "create_app"]

__getattr__ = lazy_getattr(__name__, __file__)
