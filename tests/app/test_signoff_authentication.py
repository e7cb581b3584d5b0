"""What the dashboard tells the engine about how its user was authenticated."""

from __future__ import annotations

import pytest

from app.state import MODES, SignedInUser
from audits.roles import AUTH_METHODS, Role


@pytest.mark.parametrize(("mode", "method"),
                         [("local", "session"), ("oidc", "oidc"), ("demo", "demo")])
def test_each_sign_in_mode_is_recorded_as_its_method(mode: str, method: str) -> None:
    user = SignedInUser("casey", Role.COMPLIANCE_OFFICER, mode, "Casey")
    assert user.authentication.as_log() == {"authenticated_by": method, "via": "dashboard",
                                            "asserted_user": "casey", "os_user": None}


def test_every_mode_has_a_method() -> None:
    methods = {SignedInUser("a", Role.ADMIN, m, "A").authentication.method for m in MODES}
    assert methods <= set(AUTH_METHODS) and len(methods) == len(MODES)
