"""``coinpilot trading|safety|trade|kill|release|exchange``: registered once the services exist."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
