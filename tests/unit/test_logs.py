"""Every log line names the trading mode."""

from __future__ import annotations

import logging
from pathlib import Path

from coinpilot.config import Settings
from coinpilot.logs import configure_logging


def test_log_lines_carry_the_mode_and_go_to_the_home_log_file(tmp_path: Path) -> None:
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        configure_logging(Settings(home=tmp_path, trading_mode="production"))
        logging.getLogger("coinpilot.test").warning("order placed")
        for h in root.handlers:
            h.flush()
        text = (tmp_path / "coinpilot.log").read_text()
        assert "[PRODUCTION] coinpilot.test: order placed" in text
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
            h.close()
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
