"""Moved: the safety checks are in :mod:`coinpilot.domain.rules`, one rule per module.

Kept as an alias so older imports keep working.
"""

from __future__ import annotations

from coinpilot.domain.rules import CHECKS, Check

__all__ = ["CHECKS", "Check"]
