"""SIGTERM during an order: the real ``coinpilot serve`` process in production mode against the
stand-in process. The order request in flight is answered, its fills are booked before the
process exits (within a bounded time, exit code 0), and nothing is lost or placed twice; an
order that cannot finish within the grace period is left for the next start, which reconciles
it exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from coinpilot.domain.types import TradeStatus
from tests.e2e._procs import ProcessGroup, clean_env
from tests.e2e._production import trade_rows
from tests.e2e._server_rig import ServerRig, production_server_rig

pytestmark = pytest.mark.slow  # real server processes, a grace period to sit out

TOKEN = "shutdown-test-token-0123456789abcdefghijkl"
SLOW_CREATE = 1.5  # the exchange takes this long to accept the order: SIGTERM lands inside it


def db_is_sqlite() -> bool:
    return not os.environ.get("COINPILOT_TEST_DATABASE", "sqlite").startswith("postgresql")


def make_rig(
    tmp_path: Path, db_url: str, procs: ProcessGroup, *, fill_delay: float, grace: float
) -> ServerRig:
    env = {"COINPILOT_COINBASE_TIMEOUT_SECONDS": "5", "COINPILOT_SHUTDOWN_GRACE_SECONDS": str(grace)}
    return production_server_rig(
        tmp_path, db_url, procs, token=TOKEN, fill_delay=fill_delay, env=env, api_timeout=20
    )


def start_with_a_bot(rig: ServerRig) -> int:
    rig.server.start(timeout=90)  # generous: the test machine is shared
    r = rig.api("POST", "/bots", json={"name": "btc", "pair": "BTC-USD", "cooldown_minutes": 0})
    assert r.status_code == 201, r.text
    assert rig.api("POST", "/trading/enable").status_code == 200
    return int(r.json()["id"])


def sigterm_during_an_order(rig: ServerRig, bot: int) -> tuple[list[Any], float]:
    """Place a buy whose create the exchange answers slowly; SIGTERM once its PENDING row exists."""
    rig.fake.inject("slow", "/orders$", method="POST", count=1, seconds=SLOW_CREATE)
    answers: list[Any] = []

    def order() -> None:
        try:
            answers.append(
                rig.api("POST", "/trades/execute", json={"bot_id": bot, "side": "buy", "quote_size": "10.00"})
            )
        except httpx.HTTPError as exc:
            answers.append(exc)

    thread = threading.Thread(target=order, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        t.status == TradeStatus.PENDING for t in trade_rows(rig.sessions)
    ):
        time.sleep(0.01)
    assert trade_rows(rig.sessions), "the trade row never appeared"
    proc = rig.server.proc
    assert proc is not None
    began = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    took = time.monotonic() - began
    thread.join(10)
    return answers, took


def test_sigterm_during_an_order_answers_it_books_its_fills_and_exits_cleanly(
    tmp_path, db_url, procs
) -> None:
    rig = make_rig(tmp_path, db_url, procs, fill_delay=0.5, grace=10)
    bot = start_with_a_bot(rig)
    answers, took = sigterm_during_an_order(rig, bot)
    assert rig.server.proc is not None and rig.server.proc.returncode == 0, rig.server.log_path.read_text()[
        -3000:
    ]
    assert took < 10 + 10, f"shutdown took {took:.1f} s"
    (answer,) = answers
    assert isinstance(answer, httpx.Response) and answer.status_code == 201, answer
    (trade,) = trade_rows(rig.sessions)
    assert trade.status == TradeStatus.SETTLED, "the fills were not booked before the process exited"
    orders, _per, _attempts = rig.stand_in()
    assert len(orders) == 1 and orders[0].status == "FILLED"
    rig.check_nothing_lost_or_doubled()
    log = rig.server.log_path.read_text(errors="replace")
    assert "engine stopped (0 order(s) still unfinished" in log


def test_an_order_still_filling_at_the_deadline_is_finished_by_the_next_start(
    tmp_path, db_url, procs
) -> None:
    rig = make_rig(tmp_path, db_url, procs, fill_delay=6.0, grace=1)
    bot = start_with_a_bot(rig)
    _answers, took = sigterm_during_an_order(rig, bot)
    assert rig.server.proc is not None and rig.server.proc.returncode == 0
    assert took < 1 + SLOW_CREATE + 8, f"shutdown took {took:.1f} s: not bounded by the grace period"
    (trade,) = trade_rows(rig.sessions)
    assert trade.status == TradeStatus.OPEN and trade.order_id is not None  # acknowledged, not filled
    rig.server.start(timeout=90)  # reconciles, then order sync books the fills when the exchange has them
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not trade_rows(rig.sessions)[0].status.is_final:
        time.sleep(0.1)
    assert trade_rows(rig.sessions)[0].status == TradeStatus.SETTLED
    rig.check_nothing_lost_or_doubled()


@pytest.mark.skipif(not db_is_sqlite(), reason="the server lock guards SQLite files")
def test_a_running_server_blocks_restore_and_a_second_server_on_its_database(tmp_path, db_url, procs) -> None:
    import subprocess

    from tests.e2e._procs import coinpilot_command, free_port

    env = clean_env(
        {
            "COINPILOT_HOME": str(tmp_path / "home"),
            "COINPILOT_DATABASE_URL": db_url,
            "COINPILOT_UNDER_TEST": "1",
        }
    )
    server = procs.server(env, tmp_path / "server.log")
    server.start(timeout=90)
    backup = tmp_path / "backup.db"
    r = subprocess.run([*coinpilot_command(), "backup", str(backup)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr  # a backup is fine while serving
    r = subprocess.run(
        [*coinpilot_command(), "restore", str(backup), "--yes"], env=env, capture_output=True, text=True
    )
    assert r.returncode == 1 and "server is running" in r.stderr
    r = subprocess.run(
        [*coinpilot_command(), "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "server is running on this database" in r.stderr
    assert server.alive
    server.stop()  # SIGTERM: the lock goes with the process
    r = subprocess.run(
        [*coinpilot_command(), "restore", str(backup), "--yes"], env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
