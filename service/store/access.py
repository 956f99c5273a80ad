"""API keys with a role, stored hashed (sha256 of a 256-bit random key), and the audit log of writes.

Refused authentications are counted, not listed: one audit row per client and clock minute whose
``attempts`` grows with each refusal (migration 0007), and which the throttle reads before a key is looked
up (:func:`refusals_this_minute`). :func:`authorize` is the one place that puts these together (the API's
``BeheerKey`` dependency calls it): throttle, key check, and the count of a refusal, each in a short
transaction of its own.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from service.core.errors import Forbidden, GebiedscheckError, InvalidInput, NotFound, TooManyRequests, Unauthorized
from service.store.models import ApiKeyRow, AuditEntry

ROLES = ("beheer",)
PREFIX = "gbc_"


class ApiKey(BaseModel):
    id: int
    name: str
    role: str
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def actor(self) -> str:
        """The key's holder as the audit log and the versions name it."""
        return f"{self.name} (#{self.id})"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey.model_validate(row, from_attributes=True)


def create_key(session: Session, *, name: str, role: str = "beheer") -> tuple[ApiKey, str]:
    """A new key; the secret is returned once and only its hash is stored."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(name=name, role=role, key_prefix=secret[:10], key_hash=_hash(secret))
    session.add(row)
    session.flush()
    return _key(row), secret


def list_keys(session: Session) -> list[ApiKey]:
    return [_key(row) for row in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]


def revoke_key(session: Session, key_id: int) -> ApiKey:
    revoke = (
        update(ApiKeyRow)
        .where(ApiKeyRow.id == key_id)
        .values(revoked_at=func.coalesce(ApiKeyRow.revoked_at, func.now()))
        .returning(ApiKeyRow)
        .execution_options(populate_existing=True)
    )
    row = session.scalars(revoke).first()
    if row is None:
        raise NotFound(f"there is no key {key_id}")
    return _key(row)


def authenticate(session: Session, authorization: str | None, *, role: str = "beheer") -> ApiKey:
    """The key of an `Authorization: Bearer KEY` header, checked for the role."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("writing needs an API key: send 'Authorization: Bearer KEY'")
    secret = authorization.split(" ", 1)[1].strip()
    row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == _hash(secret))).first()
    if row is None:
        raise Unauthorized("the API key is not known")
    if row.revoked_at is not None:
        raise Unauthorized("the API key has been revoked")
    if row.role != role:
        raise Forbidden(f"the API key's role {row.role!r} may not do this (needs {role!r})")
    return _key(row)


def audit(
    session: Session, *, actor: str, action: str, target: str | None, result: str, detail: dict[str, Any] | None = None
) -> None:
    """One line in the audit log; the caller's transaction holds it (commit separately for failures)."""
    plain = json.loads(json.dumps(detail or {}, default=str))  # dates, paths, ... as text
    session.add(AuditEntry(actor=actor, action=action, target=target, result=result, detail=plain))
    session.flush()


_MINUTE = "to_timestamp(floor(extract(epoch FROM clock_timestamp()) / 60) * 60)"
_REFUSALS = text(
    f"SELECT coalesce((SELECT attempts FROM audit_log WHERE client = :c AND bucket = m.b), 0), "
    f"extract(epoch FROM m.b + interval '60 seconds' - clock_timestamp()) FROM (SELECT {_MINUTE} AS b) m"
)
_REFUSED = text(
    "INSERT INTO audit_log AS a (actor, action, target, result, detail, client, bucket, attempts) "
    "VALUES (:actor, :action, :target, 'refused', "
    f"jsonb_build_object('reasons', jsonb_build_object(CAST(:reason AS text), 1)), :c, {_MINUTE}, 1) "
    "ON CONFLICT (client, bucket) WHERE bucket IS NOT NULL DO UPDATE SET attempts = a.attempts + 1, "
    "detail = jsonb_set(a.detail, ARRAY['reasons', CAST(:reason AS text)], "
    "to_jsonb(coalesce((a.detail #>> ARRAY['reasons', CAST(:reason AS text)])::int, 0) + 1)) "
    "RETURNING attempts"
)


def refusals_this_minute(session: Session, client: str) -> tuple[int, float]:
    """How many authentications of ``client`` were refused in the current clock minute, and the seconds
    left in that minute."""
    attempts, left = session.execute(_REFUSALS, {"c": client}).one()
    return int(attempts), float(left)


def record_refusal(session: Session, *, client: str, action: str, target: str | None, reason: str) -> int:
    """Count one refused authentication in the client's row of this minute (the first one creates it, with
    the action and target it was for); ``detail.reasons`` counts each reason. Returns the row's attempts."""
    params = {"actor": "(geen geldige sleutel)", "action": action, "target": target, "reason": reason, "c": client}
    return int(session.execute(_REFUSED, params).scalar_one())


class LocalRefusals:
    """This process's own count of each client's refusals in the current clock minute: the throttle holds
    even where the database role cannot write the audit log (a read-only service)."""

    MAX_CLIENTS = 10_000

    def __init__(self) -> None:
        self._table: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def count(self, client: str, add: int = 0) -> int:
        minute = int(time.time() // 60)
        with self._lock:
            seen, count = self._table.get(client, (minute, 0))
            count = (count if seen == minute else 0) + add
            if add:
                if len(self._table) > self.MAX_CLIENTS:  # forget the clients of earlier minutes
                    for c in [c for c, (m, _n) in self._table.items() if m != minute]:
                        del self._table[c]
                self._table[client] = (minute, count)
        return count


def authorize(
    sessions: Callable[[], Session],
    authorization: str | None,
    *,
    client: str,
    action: str,
    target: str | None,
    limit: int,
    local: LocalRefusals,
    role: str = "beheer",
) -> ApiKey:
    """The key of an `Authorization: Bearer KEY` header with ``role``, or: 429 when ``client`` had ``limit``
    refusals this minute (the key is not even looked up), 401/403 for a missing, unknown, revoked or wrong
    key. Every refusal (the 429 included) is counted in the client's audit row of this minute. ``sessions``
    makes the sessions: each step is a short transaction of its own, none of the caller's."""
    if limit > 0:
        with sessions() as session:
            refused, left_s = refusals_this_minute(session, client)
        if max(refused, local.count(client)) >= limit:
            retry = max(1, math.ceil(left_s))
            throttled = TooManyRequests(
                f"too many failed authentications: at most {limit} a minute per client; try again in {retry} s",
                retry_after=retry,
            )
            _refuse(sessions, local, client=client, action=action, target=target, exc=throttled)
            raise throttled
    try:
        with sessions() as session:
            return authenticate(session, authorization, role=role)
    except GebiedscheckError as exc:
        _refuse(sessions, local, client=client, action=action, target=target, exc=exc)
        raise


def _refuse(
    sessions: Callable[[], Session],
    local: LocalRefusals,
    *,
    client: str,
    action: str,
    target: str | None,
    exc: GebiedscheckError,
) -> None:
    local.count(client, add=1)
    with sessions() as session, session.begin():
        record_refusal(session, client=client, action=action, target=target, reason=exc.detail)
