"""Log lines: the mode on every line, JSON off a terminal and text on one, context fields,
secrets redacted, level by configuration, the last lines kept for the API."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from coinpilot import logs
from coinpilot.config import Settings
from coinpilot.logs import configure_logging


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])


def _file_lines(home: Path) -> list[dict]:
    for h in logging.getLogger().handlers:
        h.flush()
    return [json.loads(line) for line in (home / "coinpilot.log").read_text().splitlines()]


def test_file_lines_are_json_with_the_mode_and_the_order_fields(tmp_path: Path, restore_root) -> None:
    configure_logging(Settings(home=tmp_path, trading_mode="production"))
    logging.getLogger("coinpilot.test").warning(
        "order placed", extra={"bot": 3, "trade": 17, "order": "o-1", "client_order_id": "c-1"}
    )
    (line,) = _file_lines(tmp_path)
    assert line["mode"] == "PRODUCTION"
    assert line["logger"] == "coinpilot.test"
    assert line["message"] == "order placed"
    assert (line["bot"], line["trade"], line["order"], line["client_order_id"]) == (3, 17, "o-1", "c-1")
    assert line["time"].endswith("+00:00")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_readable_text_and_a_pipe_gets_json(
    tmp_path: Path, restore_root, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = logging.LogRecord("coinpilot.x", logging.INFO, __file__, 1, "synced", None, None)
    record.trade = 5
    record.mode = "MOCK"
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        monkeypatch.setattr("sys.stderr", stream)
        configure_logging(Settings(home=tmp_path))
        stream_handler = next(h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler)
        stream_handler.handle(record)
    text = tty.getvalue()
    assert "INFO [MOCK] coinpilot.x: synced trade=5" in text
    assert not text.lstrip().startswith("{")
    assert json.loads(pipe.getvalue())["trade"] == 5


def test_secrets_are_redacted_from_every_line(tmp_path: Path, restore_root) -> None:
    token = "tok-abcdefghijklmnop-0123456789-abcdef"
    secret = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIGl0c2FzZWNyZXQ\n-----END EC PRIVATE KEY-----"
    configure_logging(
        Settings(
            home=tmp_path,
            api_token=token,
            coinbase_api_key="organizations/x/apiKeys/y",
            coinbase_api_secret=secret,
        )
    )
    log = logging.getLogger("coinpilot.test")
    log.error("headers Authorization: Bearer %s", token)
    log.error("key %s", secret)
    log.error("jwt eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJvcmdhbml6YXRpb25zIn0.c2lnbmF0dXJlLXZhbHVl")
    log.error("unrelated key text: PRIVATE KEY-----END")
    lines = [x["message"] for x in _file_lines(tmp_path)]
    joined = "\n".join(lines)
    assert token not in joined and "MHcCAQEEIGl0c2FzZWNyZXQ" not in joined and "eyJhbGci" not in joined
    assert lines[0] == "headers Authorization: Bearer [REDACTED]"
    assert lines[1] == "key [REDACTED]"
    assert lines[3] == "unrelated key text: PRIVATE KEY-----END"
    kept = logs.recent_lines()
    assert kept is not None and token not in json.dumps(kept.lines(10))


def test_the_level_comes_from_configuration(tmp_path: Path, restore_root) -> None:
    configure_logging(Settings(home=tmp_path, log_level="WARNING"))
    log = logging.getLogger("coinpilot.test")
    log.info("quiet")
    log.warning("loud")
    assert [x["message"] for x in _file_lines(tmp_path)] == ["loud"]


def test_the_last_lines_are_kept_newest_last_and_filtered_by_level(tmp_path: Path, restore_root) -> None:
    configure_logging(Settings(home=tmp_path, log_level="DEBUG"))
    log = logging.getLogger("coinpilot.test")
    for i in range(1005):
        log.info("line %d", i)
    log.error("bad")
    kept = logs.recent_lines()
    assert kept is not None
    last = kept.lines(3)
    assert [x["message"] for x in last] == ["line 1003", "line 1004", "bad"]
    assert [x["message"] for x in kept.lines(10, logging.ERROR)] == ["bad"]
    assert len(kept.lines(5000)) == logs.RECENT_LINES
