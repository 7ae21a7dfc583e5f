"""Logging set-up shared by ``serve``, ``demo`` and ``worker``.

Every line carries the trading mode, so a production line can never be mistaken for a mock one,
and goes both to stderr and to ``COINPILOT_HOME/coinpilot.log``. Secrets are never logged: the
settings hold them as ``SecretStr`` and no code formats them.
"""

from __future__ import annotations

import logging

from coinpilot.config import Settings

FORMAT = "%(asctime)s %(levelname)s [%(mode)s] %(name)s: %(message)s"


class _ModeFilter(logging.Filter):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def filter(self, record: logging.LogRecord) -> bool:
        record.mode = self.mode
        return True


def configure_logging(settings: Settings, *, log_file: str = "coinpilot.log") -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = [
        logging.StreamHandler(),
        logging.FileHandler(settings.home / log_file),
    ]
    mode_filter = _ModeFilter(settings.trading_mode.value.upper())
    for handler in handlers:
        handler.addFilter(mode_filter)
        handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(settings.log_level)
