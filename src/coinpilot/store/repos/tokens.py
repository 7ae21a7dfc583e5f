"""Named API tokens: several, each revocable, stored as hashes only.

The secret is shown once when created; only its SHA-256 is kept (the secret is 32 random bytes,
so a fast hash is enough — there is nothing to guess). The name is the "who" of the audit trail.
The token from ``COINPILOT_API_TOKEN`` (or the generated ``api_token`` file) keeps working as
the token named ``default``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.store.models import ApiToken

DEFAULT_TOKEN_NAME = "default"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class TokenError(ValueError):
    """A token name is invalid, taken or unknown; the message says which."""


@dataclass(frozen=True)
class TokenInfo:
    name: str
    created_at: datetime
    revoked_at: datetime | None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "active": "yes" if self.revoked_at is None else "no",
        }


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, name: str, now: datetime) -> str:
    """Create token ``name``; returns its secret (shown once, never stored)."""
    if not _NAME.match(name):
        raise TokenError("name: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if name == DEFAULT_TOKEN_NAME:
        raise TokenError(f"name: '{DEFAULT_TOKEN_NAME}' is the configured COINPILOT_API_TOKEN")
    if session.scalar(sa.select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise TokenError(f"name: a token named {name!r} exists already (revoked names are not reused)")
    secret = secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=hash_token(secret), created_at=now))
    session.flush()
    return secret


def revoke_token(session: Session, name: str, now: datetime) -> TokenInfo:
    token = session.scalars(sa.select(ApiToken).where(ApiToken.name == name)).first()
    if token is None:
        raise TokenError(f"name: no token named {name!r}")
    if token.revoked_at is None:
        token.revoked_at = now
    return TokenInfo(token.name, token.created_at, token.revoked_at)


def list_tokens(session: Session) -> list[TokenInfo]:
    rows = session.scalars(sa.select(ApiToken).order_by(ApiToken.name))
    return [TokenInfo(t.name, t.created_at, t.revoked_at) for t in rows]


def token_name(session: Session, secret: str) -> str | None:
    """The name of the active token with this secret, or None (unknown or revoked)."""
    return session.scalar(
        sa.select(ApiToken.name).where(
            ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None)
        )
    )
