"""Bearer tokens of the decision API: one system, one scope each, stored only as a hash.

An admin creates a token for a system and a scope (:data:`SCOPES`: ``decide`` sends
decisions, ``read`` reads their outcome); the token is returned once and only its
SHA-256 is kept, with an 8-character prefix to tell tokens apart in listings. Tokens are
32 random bytes, so a plain SHA-256 is enough (a slow password hash would only slow every
request: there is nothing to guess). :meth:`TokenOps.check_token` answers which system a
presented token opens, or refuses it with a reason that never says whether the token
exists. Creating and revoking are logged (``create_api_token``, ``revoke_api_token``)
with the token's id, system, scope and prefix, never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from audits.roles import Actor, require_role
from audits.store.base import StoreBase
from audits.store.log import append_entry
from audits.store.systems import check_system_name, system_row
from audits.store.tables import ApiToken, System, utcnow
from audits.store.validation import check_actor, check_text

__all__ = ["MSG_BAD_SCOPE", "MSG_TOKEN_REFUSED", "MSG_UNKNOWN_TOKEN", "SCOPES", "TOKEN_PREFIX",
           "ApiTokenRecord", "NewToken", "TokenOps", "TokenRefused", "token_sha256"]

#: What a token may do: send decisions for a system, or read their outcomes.
SCOPES = ("decide", "read")
#: Every token starts with this (so a leaked one is recognisable in a scan).
TOKEN_PREFIX = "fpk_"
MSG_BAD_SCOPE = "scope must be one of {choices}; got {value!r}"
MSG_UNKNOWN_TOKEN = "no API token with id {id!r}"
MSG_TOKEN_REFUSED = "the API token is unknown, revoked, or not for this system and scope"
MSG_NOT_TOKEN_ID = "a token id must be a positive integer; got {value!r}"


class TokenRefused(PermissionError):
    """A presented token opens nothing: unknown, revoked, another system or scope."""


@dataclass(frozen=True)
class ApiTokenRecord:
    """A token as listed: never the token itself, only its prefix."""

    id: int
    system: str
    scope: str
    prefix: str
    label: str
    created_by: str
    created_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """True until the token is revoked."""
        return self.revoked_at is None


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``token`` is shown this once and never stored."""

    record: ApiTokenRecord
    token: str


def token_sha256(token: str) -> str:
    """Return the SHA-256 hex digest the store keeps of ``token``.

    Examples
    --------
    >>> len(token_sha256("fpk_abc"))
    64
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_scope(scope: object) -> str:
    if scope not in SCOPES:
        raise ValueError(MSG_BAD_SCOPE.format(choices=", ".join(SCOPES), value=scope))
    return str(scope)


def _check_id(token_id: object) -> int:
    if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 1:
        raise ValueError(MSG_NOT_TOKEN_ID.format(value=token_id))
    return token_id


def _record(row: ApiToken, system: str) -> ApiTokenRecord:
    return ApiTokenRecord(id=row.id, system=system, scope=row.scope, prefix=row.prefix,
                          label=row.label, created_by=row.created_by,
                          created_at=row.created_at, revoked_by=row.revoked_by,
                          revoked_at=row.revoked_at)


class TokenOps(StoreBase):
    """The API-token methods of :class:`~audits.store.Store`."""

    def create_token(self, actor: Actor, system: str, scope: str, *,
                     label: str = "") -> NewToken:
        """Create a token for ``system`` and ``scope`` (requires "manage users").

        Returns
        -------
        NewToken
            The record and the token, which is not stored and cannot be shown again.

        Raises
        ------
        PermissionDenied
            The actor is not an admin.
        LookupError
            No system has this name.
        ValueError
            A scope not in :data:`SCOPES`, a label over 200 characters.

        Examples
        --------
        >>> from audits.store import Store, SystemInput, VersionInput
        >>> with Store("sqlite://") as store:
        ...     _ = store.register_system_version(Actor.system(), SystemInput("credit"),
        ...         VersionInput(source="s", sha256="a" * 64, n_rows=1, roles={}, card="",
        ...                      card_data={}, data_path="data/a.parquet"))
        ...     new = store.create_token(Actor.system(), "credit", "decide")
        ...     store.check_token(new.token, "credit", "decide").id == new.record.id
        True
        """
        require_role(check_actor(actor), "manage users")
        name = check_system_name(system)
        scope = _check_scope(scope)
        label = check_text(label, "label", 200, empty=True)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as (session, head):
            target = system_row(session, name)
            row = ApiToken(system_id=target.id, scope=scope,
                           token_sha256=token_sha256(token), prefix=token[:12],
                           label=label, created_by=actor.username, created_at=utcnow())
            session.add(row)
            session.flush()
            append_entry(session, head, actor=actor.username, action="create_api_token",
                         entity="api_token", entity_id=row.id,
                         payload={"system": name, "scope": scope, "prefix": row.prefix,
                                  "label": label})
            return NewToken(_record(row, name), token)

    def list_tokens(self, actor: Actor, system: str | None = None) -> list[ApiTokenRecord]:
        """Return every token (of ``system``, if given), oldest first; requires "manage
        users"."""
        require_role(check_actor(actor), "manage users")
        with self._read() as session:
            query = (select(ApiToken, System.name).join(System, System.id == ApiToken.system_id)
                     .order_by(ApiToken.id))
            if system is not None:
                query = query.where(System.name == system_row(session, system).name)
            return [_record(row, name) for row, name in session.execute(query)]

    def revoke_token(self, actor: Actor, token_id: int) -> ApiTokenRecord:
        """Revoke a token at once (requires "manage users"); revoking twice changes
        nothing and writes nothing.

        Raises
        ------
        LookupError
            No token has this id.
        """
        require_role(check_actor(actor), "manage users")
        token_id = _check_id(token_id)
        with self._write() as (session, head):
            row = session.get(ApiToken, token_id)
            if row is None:
                raise LookupError(MSG_UNKNOWN_TOKEN.format(id=token_id))
            name = session.scalar(select(System.name).where(System.id == row.system_id))
            if row.revoked_at is None:
                row.revoked_at, row.revoked_by = utcnow(), actor.username
                append_entry(session, head, actor=actor.username, action="revoke_api_token",
                             entity="api_token", entity_id=row.id,
                             payload={"system": name, "scope": row.scope,
                                      "prefix": row.prefix})
            return _record(row, str(name))

    def check_token(self, token: object, system: str | None, scope: str) -> ApiTokenRecord:
        """Return the active token ``token`` if it opens ``system`` for ``scope``.

        A ``decide`` token also reads (whoever may send a decision may ask what became of
        it); a ``read`` token never decides. ``system`` None accepts the token's own
        system (a caller that reads by decision id checks the decision's system itself).

        Raises
        ------
        TokenRefused
            Unknown, revoked, another system or a scope it lacks; the message is the same
            for each, so a caller learns nothing about which tokens exist.
        """
        scope = _check_scope(scope)
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise TokenRefused(MSG_TOKEN_REFUSED)
        digest = token_sha256(token)
        with self._read() as session:
            found = session.execute(
                select(ApiToken, System.name).join(System, System.id == ApiToken.system_id)
                .where(ApiToken.token_sha256 == digest)).first()
        if found is None:
            raise TokenRefused(MSG_TOKEN_REFUSED)
        row, name = found
        allowed = row.scope == scope or (row.scope == "decide" and scope == "read")
        if (not hmac.compare_digest(row.token_sha256, digest) or row.revoked_at is not None
                or (system is not None and name != system) or not allowed):
            raise TokenRefused(MSG_TOKEN_REFUSED)
        return _record(row, name)
