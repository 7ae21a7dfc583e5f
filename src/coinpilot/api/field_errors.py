"""The exception a request or a backtest input raises when fields fail the bot validation.

Kept apart from :mod:`coinpilot.api.errors` (which maps exceptions to HTTP responses and so loads
FastAPI, the engine and the database layer) so that ``coinpilot backtest`` can refuse a bad
configuration without paying for a web stack it never starts.
"""

from __future__ import annotations

from coinpilot.domain.signal_config import FieldError


class FieldValidationError(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors
