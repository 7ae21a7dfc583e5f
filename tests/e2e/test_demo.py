"""`coinpilot demo` as a user runs it: a real process, a free port, a temporary home.

The demo must show automatic trading quickly: a trade placed by the engine (not by hand)
appears in the API within 60 seconds of start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

COINPILOT = Path(sys.executable).with_name("coinpilot")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo_process(tmp_path: Path):
    if not COINPILOT.exists():
        pytest.skip(f"{COINPILOT} is not installed (pip install -e .)")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COINPILOT_")}
    env.update({"COINPILOT_HOME": str(tmp_path / "home"), "COINPILOT_UNDER_TEST": "1"})
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [str(COINPILOT), "demo", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = time.monotonic()
    try:
        yield f"http://127.0.0.1:{port}", started, proc, tmp_path / "demo.log"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.mark.slow
def test_demo_engine_places_a_trade_visible_in_the_api_within_60_seconds(demo_process) -> None:
    base, started, proc, log_path = demo_process
    trades: list[dict] = []
    with httpx.Client(base_url=base, timeout=5) as client:
        while time.monotonic() - started < 60:
            assert proc.poll() is None, f"the demo exited early:\n{log_path.read_text()[-2000:]}"
            try:
                summary = client.get("/api/v1/bots/status/summary").json()
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            trades = [b["last_trade"] for b in summary["bots"] if b.get("last_trade")]
            if trades:
                break
            time.sleep(1)
        elapsed = time.monotonic() - started
    assert trades, f"no trade within 60 s of start:\n{log_path.read_text()[-2000:]}"
    assert elapsed < 60
    first = trades[0]
    assert first["mode"] == "mock"
    assert first["intent"] == "entry"  # placed by the engine on a confirmed signal, not by hand
