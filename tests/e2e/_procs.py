"""Subprocess helpers for end-to-end tests: free ports, the real ``coinpilot serve`` process,
health waits, and kill -9.

Every process started here is registered with a :class:`ProcessGroup`; its ``close()`` (called
from fixture teardown) kills whatever is still alive, so a failing test never leaves a server
behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def coinpilot_command() -> list[str]:
    """The installed ``coinpilot`` entry point of this interpreter's environment."""
    script = Path(sys.executable).parent / "coinpilot"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from coinpilot.cli import main; main()"]


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any COINPILOT_/COINBASE_ variable, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("COINPILOT_", "COINBASE_", "REQUESTS_CA"))
    }
    env.update(extra)
    return env


# A pre-warmed interpreter: imports what `coinpilot serve` imports, waits for a line on stdin,
# then runs the real command line (`coinpilot serve --port P`) with the environment it was
# started with. Only the import time is taken out of a restart; everything the server does
# (settings, migrations, reconciliation, engine threads, uvicorn) happens after the go signal.
_WARM = """
import sys
import coinpilot.cli.main, coinpilot.cli.trading, coinpilot.cli.server
import coinpilot.api.app, coinpilot.runtime.background, coinpilot.exchange.coinbase, uvicorn
sys.stdin.readline()
sys.argv = ["coinpilot", "serve", "--port", sys.argv[1]]
from coinpilot.cli import main
main()
"""


class ServerProcess:
    """``coinpilot serve --port P`` as a child process, restartable on the same port.

    The first start runs the installed entry point. With ``prewarm=True`` each later start uses
    an interpreter that finished importing while the previous server ran (see ``_WARM``), which
    makes many kill -9 / restart rounds affordable.
    """

    def __init__(
        self, env: Mapping[str, str], log_path: Path, port: int | None = None, *, prewarm: bool = False
    ) -> None:
        self.env = dict(env)
        self.port = port or free_port()
        self.log_path = log_path
        self.prewarm = prewarm
        self.proc: subprocess.Popen[bytes] | None = None
        self._standby: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start_seconds: list[float] = []

    def _spawn(self, cmd: list[str], stdin: int) -> subprocess.Popen[bytes]:
        log = self.log_path.open("ab")
        try:
            return subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=stdin)
        finally:
            log.close()

    def _spawn_standby(self) -> None:
        if self.prewarm and self._standby is None:
            self._standby = self._spawn([sys.executable, "-c", _WARM, str(self.port)], subprocess.PIPE)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> float:
        """Start and wait until /api/v1/health answers; returns the seconds it took."""
        assert self.proc is None or self.proc.poll() is not None, "server already running"
        began = time.monotonic()
        standby, self._standby = self._standby, None
        if standby is not None and standby.poll() is None:
            assert standby.stdin is not None
            standby.stdin.write(b"go\n")
            standby.stdin.close()
            self.proc = standby
        else:
            self.proc = self._spawn(
                [*coinpilot_command(), "serve", "--port", str(self.port)], subprocess.DEVNULL
            )
        self.starts += 1
        wait_healthy(self.url, self.proc, timeout, self.log_path)
        took = time.monotonic() - began
        self.start_seconds.append(took)
        self._spawn_standby()  # imports while this server runs
        return took

    def kill9(self) -> None:
        """SIGKILL: no handler, no flush, no shutdown hook runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def close(self) -> None:
        """Kill the server and any standby interpreter (teardown)."""
        self.kill9()
        standby, self._standby = self._standby, None
        if standby is not None and standby.poll() is None:
            standby.kill()
            standby.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill9()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def wait_healthy(
    url: str, proc: subprocess.Popen[bytes], timeout: float, log_path: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
            raise RuntimeError(f"server exited with {proc.returncode} before it was healthy:\n{tail}")
        try:
            resp = httpx.get(f"{url}/api/v1/health", timeout=1.0)
            if resp.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
    raise RuntimeError(f"server not healthy after {timeout} s:\n{tail}")


class ProcessGroup:
    """Owns the test's subprocesses; ``close()`` kills every one still running."""

    def __init__(self) -> None:
        self._servers: list[ServerProcess] = []
        self._others: list[object] = []

    def server(
        self, env: Mapping[str, str], log_path: Path, port: int | None = None, *, prewarm: bool = False
    ) -> ServerProcess:
        s = ServerProcess(env, log_path, port, prewarm=prewarm)
        self._servers.append(s)
        return s

    def adopt(self, thing: object) -> None:
        """Anything with a ``stop()`` (e.g. FakeCoinbaseProcess), stopped last."""
        self._others.append(thing)

    def close(self) -> None:
        for s in self._servers:
            try:
                s.close()
            except Exception:  # teardown must reach every process
                pass
        for o in reversed(self._others):
            try:
                o.stop()  # type: ignore[attr-defined]
            except Exception:
                pass
