"""One rig for the tests that run the real ``coinpilot serve`` process in production mode against
the Coinbase stand-in process (graceful shutdown, kill -9 crash rounds).

Both need the same pieces: a stand-in with a fresh key, a temporary COINPILOT_HOME, the test
database, a server environment without the developer's variables, a session factory to read the
database as the witness of what the server booked, and the stand-in's own record of what was
really ordered. Each test adds only the settings its scenario is about (grace period, timeouts,
daily caps). Everything started here is owned by the test's :class:`ProcessGroup`, so a failing
test leaves no process behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.store.db import make_engine, make_session_factory
from coinpilot.testing.fake_coinbase import FakeCoinbaseProcess
from coinpilot.testing.keys import generate_ec_key
from tests.e2e._procs import ProcessGroup, ServerProcess, clean_env
from tests.e2e._production import (
    StandInOrder,
    TradeRow,
    finished_orders_have_final_trades,
    orders_match_trades,
    positions_equal_fills,
    trade_rows,
)


@dataclass
class ServerRig:
    """The stand-in, the server process and a read-only view of the server's database."""

    fake: FakeCoinbaseProcess
    server: ServerProcess
    sessions: sessionmaker[Session]
    token: str
    api_timeout: float = 10.0
    bots: dict[str, int] = field(default_factory=dict)  # bot ids the test created, by pair

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(
            method, f"{self.server.url}/api/v1{path}", headers=headers, timeout=self.api_timeout, **kw
        )

    def stand_in(self) -> tuple[list[StandInOrder], dict[str, int], dict[str, int]]:
        """The stand-in's orders, orders per client_order_id, create attempts per client_order_id."""
        state = self.fake.state()
        orders = [StandInOrder.from_json(o) for o in state["orders"]]
        return orders, dict(state["orders_per_client_id"]), dict(state["create_attempts"])

    def check_nothing_lost_or_doubled(
        self, label: str = "", killed_before_sending: frozenset[int] = frozenset()
    ) -> tuple[list[StandInOrder], dict[str, TradeRow], dict[int, Decimal]]:
        """No client_order_id placed twice, stand-in orders <-> trade rows one to one, finished
        orders have final trades, positions = fills. Returns what it compared, for further checks.

        ``killed_before_sending``: see :func:`orders_match_trades`."""
        orders, per_coid, attempts = self.stand_in()
        placed_twice = {c: n for c, n in per_coid.items() if n > 1}
        assert not placed_twice, f"{label}: client_order_id placed twice: {placed_twice}"
        trades_by = orders_match_trades(orders, trade_rows(self.sessions), attempts, killed_before_sending)
        finished_orders_have_final_trades(orders, trades_by)
        positions = positions_equal_fills(self.sessions, orders, trades_by)
        return orders, trades_by, positions


class _Disposer:
    """Lets the process group dispose the rig's database engine at teardown."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def stop(self) -> None:
        self.engine.dispose()


def production_server_rig(
    tmp_path: Path,
    db_url: str,
    procs: ProcessGroup,
    *,
    token: str,
    fill_delay: float,
    env: Mapping[str, str] | None = None,
    prewarm: bool = False,
    api_timeout: float = 10.0,
) -> ServerRig:
    """Start the stand-in (USD 100,000, orders fill in two parts after ``fill_delay`` seconds)
    and prepare, not start, ``coinpilot serve`` in production mode against it.

    The server syncs orders every 0.1 s, its engine loop stays idle (trades come from the API),
    and cooldown and reserve are off so every requested trade is allowed; ``env`` adds or
    overrides settings.
    """
    key = generate_ec_key()
    key_file = key.write_key_file(tmp_path / "coinbase-key.json")
    fake = FakeCoinbaseProcess(
        tmp_path / "stand-in",
        keys=[key],
        state={"balances": {"USD": "100000"}, "fill_delay": fill_delay, "partial_fills": 2},
    )
    procs.adopt(fake)
    fake.start()
    home = tmp_path / "home"
    home.mkdir()
    server_env = clean_env(
        {
            **fake.coinpilot_env(key_file),
            "COINPILOT_HOME": str(home),
            "COINPILOT_DATABASE_URL": db_url,
            "COINPILOT_API_TOKEN": token,
            "COINPILOT_SYNC_INTERVAL_SECONDS": "0.1",
            "COINPILOT_ENGINE_INTERVAL_SECONDS": "3600",
            "COINPILOT_LIMITS__COOLDOWN_MINUTES": "0",
            "COINPILOT_LIMITS__MIN_RESERVED_BALANCE_USD": "0",
            **(env or {}),
        }
    )
    engine = make_engine(db_url)
    procs.adopt(_Disposer(engine))
    server = procs.server(server_env, tmp_path / "server.log", prewarm=prewarm)
    return ServerRig(fake, server, make_session_factory(engine), token, api_timeout)
