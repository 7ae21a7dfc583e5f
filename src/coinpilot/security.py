"""The API bearer token: from COINPILOT_API_TOKEN, or generated once and kept at 0600."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from coinpilot.private_files import make_private_dir

TOKEN_FILE = "api_token"


class TokenError(Exception):
    """The stored or configured API token is unusable (says where it came from and what to do)."""


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def load_or_create_token(home: Path, configured: str | None) -> tuple[str, bool]:
    """Return (token, created_now). A created token is written with 0600 permissions."""
    if configured:
        _check(configured, "COINPILOT_API_TOKEN")
        return configured, False
    path = token_path(home)
    if path.exists():
        stored = path.read_text().strip()
        _check(stored, str(path))
        return stored, False
    make_private_dir(home)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, True


def _check(token: str, source: str) -> None:
    from coinpilot.config import check_token_strength

    try:
        check_token_strength(token)
    except ValueError as exc:
        hint = " (or delete the file to have a new one generated)" if source != "COINPILOT_API_TOKEN" else ""
        raise TokenError(f"{source}: {exc}{hint}") from None


def tokens_match(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())
