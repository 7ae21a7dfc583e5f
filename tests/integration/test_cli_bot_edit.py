"""``coinpilot bots create|edit|delete`` in-process: one-line typos, checked edits, guarded deletes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from coinpilot.store.models import Bot


@pytest.fixture
def cli(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Run the real CLI entry (``run_cli``) in this process; returns (exit code, stdout, stderr)."""
    import os

    from coinpilot.cli.main import _register_optional, app, run_cli

    for key in list(os.environ):
        if key.startswith(("COINPILOT_", "COINBASE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("COINPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COINPILOT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    _register_optional()

    def run(*args: str) -> tuple[int, str, str]:
        code = run_cli(app, list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def bots(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(Bot.name, Bot.stop_loss_pct, Bot.strategy, Bot.signal_config)))


@pytest.mark.parametrize(
    "args",
    [
        ("--trade-size", "abc"),
        ("--buy-threshold", "abc"),
        ("--max-tranches", "2.5"),
        ("--trade-size", "1,5"),
    ],
)
def test_a_typo_in_a_number_is_a_one_line_error_and_stores_nothing(cli, engine, args) -> None:
    code, out, err = cli("bots", "create", "--name", "b", "--pair", "BTC-USD", *args)
    assert code != 0
    assert err.startswith("error:") and err.count("\n") == 1, err
    assert args[0] in err
    assert "Traceback" not in err + out
    assert bots(engine) == []


def test_unknown_pair_is_refused_naming_the_tradable_pairs(cli, engine) -> None:
    code, _, err = cli("bots", "create", "--name", "b", "--pair", "BTC-USDX")
    assert code == 1
    assert "unknown pair BTC-USDX" in err and "BTC-USD" in err and "ETH-USD" in err
    assert bots(engine) == []


def test_edit_changes_stop_loss_ladder_and_signal_weights(cli, engine) -> None:
    assert cli("bots", "create", "--name", "b", "--pair", "BTC-USD")[0] == 0
    code, _, err = cli(
        "bots",
        "edit",
        "b",
        "--stop-loss",
        "3",
        "--trailing-stop",
        "2.5",
        "--ladder",
        "5:40,12:40",
        "--signal",
        "rsi.weight=0.5",
        "--signal",
        "macd.weight=0.2",
        "--dca-step",
        "1.5",
    )
    assert code == 0, err
    ((_, stop, strategy, signals),) = bots(engine)
    assert str(stop) == "3"
    assert strategy["stop_loss_pct"] == "3" and strategy["trailing_stop_pct"] == "2.5"
    assert strategy["take_profit_ladder"] == [["5", "40"], ["12", "40"]]
    assert strategy["dca_step_pct"] == "1.5"
    assert signals["rsi"]["weight"] == 0.5 and signals["macd"]["weight"] == 0.2


def test_invalid_edit_names_every_field_and_changes_nothing(cli, engine) -> None:
    cli("bots", "create", "--name", "b", "--pair", "BTC-USD")
    before = bots(engine)
    code, _, err = cli("bots", "edit", "b", "--signal", "rsi.weight=0.9", "--stop-loss", "150")
    assert code == 1
    assert "signal_config.weights" in err and "strategy.stop_loss_pct" in err
    assert err.count("\n") == 1
    assert bots(engine) == before


def test_trailing_stop_off_removes_it(cli, engine) -> None:
    cli("bots", "create", "--name", "b", "--pair", "BTC-USD")
    cli("bots", "edit", "b", "--trailing-stop", "4")
    assert cli("bots", "edit", "b", "--trailing-stop", "off")[0] == 0
    assert bots(engine)[0][2]["trailing_stop_pct"] is None


def test_delete_a_bot_without_trades(cli, engine) -> None:
    cli("bots", "create", "--name", "b", "--pair", "BTC-USD")
    code, out, _ = cli("bots", "delete", "b", "--yes")
    assert code == 0 and "deleted bot" in out
    assert bots(engine) == []
    code, _, err = cli("bots", "delete", "b", "--yes")
    assert code == 1 and "no bot 'b'" in err


def test_a_command_beside_the_demo_database_does_not_create_a_second_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from coinpilot.cli.main import _register_optional, app, run_cli

    home = tmp_path / "home"
    home.mkdir()
    (home / "demo.db").write_bytes(b"")  # the demo's database exists in this home
    monkeypatch.delenv("COINPILOT_DATABASE_URL", raising=False)
    monkeypatch.setenv("COINPILOT_HOME", str(home))
    _register_optional()
    assert run_cli(app, ["bots", "list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"no database at {home / 'coinpilot.db'}" in err and str(home / "demo.db") in err
    assert "COINPILOT_DATABASE_URL=sqlite:///" in err
    assert not (home / "coinpilot.db").exists()


def test_listings_name_the_database_they_read_and_format_money(cli, db_url: str) -> None:
    cli("bots", "create", "--name", "b", "--pair", "BTC-USD")
    code, out, _ = cli("bots", "list")
    assert code == 0 and "database: " in out and "mode: mock" in out
    cli("trading", "enable")
    assert cli("trade", "b", "buy", "--quote", "10")[0] == 0
    code, out, _ = cli("trades")
    assert code == 0, out
    line = next(row for row in out.splitlines() if " buy " in row)
    assert "$0.06" in line  # fees of a $10 buy at 0.6%, with the symbol and two decimals
    price = next(cell for cell in line.split("│") if "," in cell and "." in cell).strip()
    assert len(price.split(".")[1]) == 2  # BTC-USD prices to its 0.01 increment, not 59 digits


def test_delete_archives_a_stopped_flat_bot_with_history_and_says_so(cli, engine, session_factory) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    from coinpilot.store.models import Position, Trade
    from coinpilot.testing.dashboard_seed import seed_dashboard

    (bot,) = seed_dashboard(session_factory, datetime.now(UTC), bots=1, trades=6)  # bot 0: STOPPED
    code, _, err = cli("bots", "delete", str(bot), "--yes")
    assert code == 1 and "holds a position" in err  # nothing changes while it holds one
    with engine.begin() as conn:  # flat now (as if its position had been sold)
        conn.execute(sa.update(Position).values(base_size=Decimal(0), cost=Decimal(0)))
    code, out, _ = cli("bots", "delete", str(bot), "--yes")
    assert code == 0 and "archived bot" in out and "trade(s) are kept" in out
    with engine.connect() as conn:
        assert conn.scalar(sa.select(Bot.archived_at).where(Bot.id == bot)) is not None
        assert conn.scalar(sa.select(sa.func.count()).select_from(Trade)) > 0
    code, out, _ = cli("bots", "list")
    assert code == 0 and "bot-0000" not in out
    code, _, err = cli("bots", "start", str(bot))
    assert code == 1 and "archived" in err and err.count("\n") == 1  # it never runs again


def test_an_archived_bots_name_and_pair_are_free_and_a_name_means_the_live_bot(cli, engine) -> None:
    from datetime import UTC, datetime

    assert cli("bots", "create", "--name", "b", "--pair", "BTC-USD")[0] == 0
    with engine.begin() as conn:  # archived (the archiving itself is tested above)
        conn.execute(sa.update(Bot).values(archived_at=datetime(2026, 1, 1, tzinfo=UTC), stop_loss_pct=None))
    code, _, err = cli("bots", "create", "--name", "b", "--pair", "BTC-USD")
    assert code == 0, err
    code, _, err = cli("bots", "create", "--name", "c", "--pair", "BTC-USD")
    assert code == 1 and "one bot per pair" in err and err.count("\n") == 1  # a live duplicate

    assert cli("bots", "edit", "b", "--stop-loss", "3")[0] == 0  # the live 'b', not the archived one
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Bot.archived_at, Bot.stop_loss_pct).order_by(Bot.id)).all()
    assert [(a is None, None if s is None else str(s)) for a, s in rows] == [(False, None), (True, "3")]


def test_a_name_held_only_by_archived_bots_finds_the_newest_unless_live_only_is_asked(
    session_factory,
) -> None:
    from datetime import UTC, datetime

    from coinpilot.store import bots as bot_repo

    when = datetime(2026, 1, 1, tzinfo=UTC)
    values = {"name": "b", "pair": "BTC-USD", "signal_config": {}, "buy_threshold": 0.5,
              "sell_threshold": 0.5, "trade_size_usd": 10}  # fmt: skip
    with session_factory() as s:
        ids = []
        for day in (1, 2):
            bot = bot_repo.create_bot(s, values, when)
            bot.archived_at = when.replace(day=day)
            s.flush()
            ids.append(bot.id)
        assert bot_repo.get_bot_by_name_or_id(s, "b").id == ids[1]  # readable: the newest archive
        assert bot_repo.get_bot_by_name_or_id(s, "b", include_archived=False) is None  # demo: create anew
        assert bot_repo.get_bot_by_name_or_id(s, str(ids[0]), include_archived=False) is None
        live = bot_repo.create_bot(s, values, when)
        assert bot_repo.get_bot_by_name_or_id(s, "b").id == live.id
        s.rollback()


def test_an_archived_bot_cannot_be_edited_or_started_and_nothing_changes(cli, engine) -> None:
    from datetime import UTC, datetime

    from tests.integration.test_api_bots import database_fingerprint

    assert cli("bots", "create", "--name", "b", "--pair", "BTC-USD")[0] == 0
    with engine.begin() as conn:  # archived (the archiving itself is tested above)
        conn.execute(sa.update(Bot).values(archived_at=datetime(2026, 1, 1, tzinfo=UTC)))
    before = database_fingerprint(engine)
    for args in (("edit", "b", "--trade-size", "20"), ("start", "b")):
        code, out, err = cli("bots", *args)
        assert code == 1, (args, out, err)
        assert "bot 'b' (#1) is archived" in err and "create a new bot" in err, err
        assert err.count("\n") == 1 and "Traceback" not in err + out
    assert database_fingerprint(engine) == before
