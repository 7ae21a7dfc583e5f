"""Logging set-up shared by ``serve``, ``demo`` and ``worker``.

Every line carries the trading mode, so a production line can never be mistaken for a mock one,
and goes both to stderr and to ``COINPILOT_HOME/coinpilot.log``. Lines are JSON objects (one per
line) wherever a program reads them (a file, a pipe, journald) and readable text on a terminal;
``COINPILOT_LOG_FORMAT`` forces one or the other. The fields ``bot``, ``trade``, ``order`` and
``client_order_id`` are carried when the code logging the line passes them in ``extra``, so one
order can be followed through every line it produced.

Secrets are redacted from every line as a second line of defence (the settings hold them as
``SecretStr`` and no code formats them): configured secret values, PEM private keys, bearer
tokens and JWTs. The last lines are kept in memory for ``GET /api/v1/logs`` (the dashboard).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from coinpilot.config import Settings
from coinpilot.private_files import make_private_dir, make_private_file

FORMAT = "%(asctime)s %(levelname)s [%(mode)s] %(name)s: %(message)s"
CONTEXT_FIELDS = ("bot", "trade", "order", "client_order_id")
RECENT_LINES = 1000
REDACTED = "[REDACTED]"

_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),  # a JWT
]


class Redactor:
    """Removes secrets from a finished log line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
        return text


def settings_secrets(settings: Settings) -> list[str]:
    values = []
    for secret in (settings.api_token, settings.coinbase_api_key, settings.coinbase_api_secret):
        if secret is not None:
            values.append(secret.get_secret_value())
    return values


def record_fields(record: logging.LogRecord, redact: Redactor) -> dict[str, Any]:
    """The JSON object for one record (redacted)."""
    out: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "mode": getattr(record, "mode", None),
        "logger": record.name,
        "message": redact(record.getMessage()),
    }
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            out[name] = value
    if record.exc_info:
        out["exception"] = redact(logging.Formatter().formatException(record.exc_info))
    return out


class JsonLinesFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(record_fields(record, self._redact), default=str)


class TextFormatter(logging.Formatter):
    """The readable form: the classic line plus ``key=value`` for the context fields."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__(FORMAT)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) is not None
        )
        return self._redact(f"{line} {context}" if context else line)


class RecentLines(logging.Handler):
    """Keeps the last ``capacity`` records as redacted dicts (newest last)."""

    def __init__(self, redact: Redactor, capacity: int = RECENT_LINES) -> None:
        super().__init__()
        self._redact = redact
        self._lines: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = record_fields(record, self._redact)
        except Exception:
            self.handleError(record)
            return
        with self._guard:
            self._lines.append(fields)

    def lines(self, limit: int, min_level: int = logging.NOTSET) -> list[dict[str, Any]]:
        with self._guard:
            chosen = [x for x in self._lines if logging.getLevelName(x["level"]) >= min_level]
        return chosen[-limit:] if limit > 0 else []


_recent: RecentLines | None = None


def recent_lines() -> RecentLines | None:
    """The in-memory buffer of this process, once :func:`configure_logging` ran."""
    return _recent


class _ModeFilter(logging.Filter):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def filter(self, record: logging.LogRecord) -> bool:
        record.mode = self.mode
        return True


def _wants_json(fmt: str, stream: Any) -> bool:
    if fmt != "auto":
        return fmt == "json"
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure_logging(settings: Settings, *, log_file: str = "coinpilot.log") -> None:
    global _recent
    make_private_dir(settings.home)
    make_private_file(settings.home / log_file)
    redact = Redactor(settings_secrets(settings))
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(
        JsonLinesFormatter(redact) if _wants_json(settings.log_format, sys.stderr) else TextFormatter(redact)
    )
    file = logging.FileHandler(settings.home / log_file)
    file.setFormatter(JsonLinesFormatter(redact) if settings.log_format != "text" else TextFormatter(redact))
    _recent = RecentLines(redact)
    handlers: list[logging.Handler] = [stream, file, _recent]
    mode_filter = _ModeFilter(settings.trading_mode.value.upper())
    for handler in handlers:
        handler.addFilter(mode_filter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(settings.log_level)
