"""API keys with a role, stored hashed (sha256 of a 256-bit random key), and the audit log of writes.

Refused authentications are counted, not listed: one audit row per client and clock minute whose
``attempts`` grows with each refusal (migration 0007), and which the throttle reads before a key is looked
up (:func:`refusals_this_minute`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.errors import Forbidden, InvalidInput, NotFound, Unauthorized

ROLES = ("beheer",)
PREFIX = "gbc_"


class ApiKey(BaseModel):
    id: int
    name: str
    role: str
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, *, name: str, role: str = "beheer") -> tuple[ApiKey, str]:
    """A new key; the secret is returned once and only its hash is stored."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    secret = PREFIX + secrets.token_urlsafe(32)
    row = (
        session.execute(
            text("INSERT INTO api_keys (name, role, key_prefix, key_hash) VALUES (:n, :r, :p, :h) RETURNING *"),
            {"n": name, "r": role, "p": secret[:10], "h": _hash(secret)},
        )
        .mappings()
        .one()
    )
    return ApiKey(**{k: row[k] for k in ApiKey.model_fields}), secret


def list_keys(session: Session) -> list[ApiKey]:
    rows = session.execute(text("SELECT * FROM api_keys ORDER BY id")).mappings().all()
    return [ApiKey(**{k: r[k] for k in ApiKey.model_fields}) for r in rows]


def revoke_key(session: Session, key_id: int) -> ApiKey:
    row = (
        session.execute(
            text("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = :i RETURNING *"),
            {"i": key_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"there is no key {key_id}")
    return ApiKey(**{k: row[k] for k in ApiKey.model_fields})


def authenticate(session: Session, authorization: str | None, *, role: str = "beheer") -> ApiKey:
    """The key of an `Authorization: Bearer KEY` header, checked for the role."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("writing needs an API key: send 'Authorization: Bearer KEY'")
    secret = authorization.split(" ", 1)[1].strip()
    row = session.execute(text("SELECT * FROM api_keys WHERE key_hash = :h"), {"h": _hash(secret)}).mappings().first()
    if row is None:
        raise Unauthorized("the API key is not known")
    if row["revoked_at"] is not None:
        raise Unauthorized("the API key has been revoked")
    if row["role"] != role:
        raise Forbidden(f"the API key's role {row['role']!r} may not do this (needs {role!r})")
    return ApiKey(**{k: row[k] for k in ApiKey.model_fields})


def audit(
    session: Session, *, actor: str, action: str, target: str | None, result: str, detail: dict[str, Any] | None = None
) -> None:
    """One line in the audit log; the caller's transaction holds it (commit separately for failures)."""
    session.execute(
        text(
            "INSERT INTO audit_log (actor, action, target, result, detail) VALUES (:a, :c, :t, :r, CAST(:d AS jsonb))"
        ),
        {"a": actor, "c": action, "t": target, "r": result, "d": json.dumps(detail or {}, default=str)},
    )


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
