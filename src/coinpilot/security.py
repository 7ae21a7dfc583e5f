"""The API bearer token: from COINPILOT_API_TOKEN, or generated once and kept at 0600."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

TOKEN_FILE = "api_token"


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def load_or_create_token(home: Path, configured: str | None) -> tuple[str, bool]:
    """Return (token, created_now). A created token is written with 0600 permissions."""
    if configured:
        return configured, False
    path = token_path(home)
    if path.exists():
        return path.read_text().strip(), False
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, True


def tokens_match(presented: str, expected: str) -> bool:
    return hmac.compare_digest(presented.encode(), expected.encode())
