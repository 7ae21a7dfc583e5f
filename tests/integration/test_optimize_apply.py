"""Stored optimisation runs: listed, shown, and applied to a bot only through the edit checks, audited."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.api.bot_schemas import BotCreate
from coinpilot.backtest.data import shipped_candles
from coinpilot.backtest.optimize import OptimiseRequest, optimise
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Candles
from coinpilot.domain.types import Granularity
from coinpilot.exchange.replay import PRODUCTS
from coinpilot.store.models import Bot, ControlEvent
from coinpilot.store.repos.optimisation import save_run
from tests.unit.test_optimize import long_only_runner


@pytest.fixture
def cli(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    import os

    from coinpilot.cli.main import _register_optional, app, run_cli

    for key in list(os.environ):
        if key.startswith(("COINPILOT_", "COINBASE_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("COINPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COINPILOT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    # The CLI's console reads its width once, when first imported: in a worker process (xdist)
    # another test may have imported it first, with another COLUMNS. Tables here need 200.
    from coinpilot.cli import common

    monkeypatch.setattr(common.console, "width", 200)
    _register_optional()

    def run(*args: str) -> tuple[int, str, str]:
        code = run_cli(app, list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    c = shipped_candles("BTC-USD", Granularity.ONE_HOUR, "hourly_2024")
    n = 600
    c = Candles(
        c.pair, c.granularity, c.start[:n], c.open[:n], c.high[:n], c.low[:n], c.close[:n], c.volume[:n]
    )
    req = OptimiseRequest(
        base_fields=BotCreate(name="b", pair="BTC-USD").model_dump(),
        limits=SafetyLimits(),
        product=PRODUCTS["BTC-USD"],
        trials=4,
        folds=2,
        groups=("thresholds", "sizing", "stops"),
        runner=long_only_runner,
    )
    return optimise(req, c)


def _store(engine: sa.Engine, report: dict[str, Any]) -> int:
    with Session(engine) as s:
        run_id = save_run(s, report, datetime(2026, 12, 2, tzinfo=UTC), "b").id
        s.commit()
    return run_id


def _bot(engine: sa.Engine) -> Bot:
    with Session(engine) as s:
        bot = s.scalars(sa.select(Bot)).one()
        s.expunge(bot)
        return bot


def _audit(engine: sa.Engine) -> list[ControlEvent]:
    with Session(engine) as s:
        return list(s.scalars(sa.select(ControlEvent).where(ControlEvent.action == "optimisation_applied")))


def test_applying_a_run_changes_the_bot_through_the_edit_path_and_audits_before_and_after(
    cli, engine, report
) -> None:
    assert cli("bots", "create", "--name", "b", "--pair", "BTC-USD")[0] == 0
    run_id = _store(engine, report)
    code, _, err = cli("optimize", "--apply", str(run_id), "--bot", "b")
    assert code == 0, err
    params = report["suggested"]["params"]
    bot = _bot(engine)
    assert bot.buy_threshold == pytest.approx(params["buy_threshold"])
    assert bot.trade_size_usd == pytest.approx(params["trade_size_usd"])
    assert bot.strategy["stop_loss_pct"] == report["suggested_patch"]["strategy"]["stop_loss_pct"]
    [event] = _audit(engine)
    assert event.actor == "cli" and event.detail["source"] == f"optimisation run {run_id}"
    assert event.detail["before"]["buy_threshold"] == 0.5
    assert event.detail["after"]["buy_threshold"] == pytest.approx(params["buy_threshold"])


def test_a_suggestion_beyond_the_caps_in_force_is_refused_and_nothing_changes(cli, engine, report) -> None:
    assert cli("bots", "create", "--name", "b", "--pair", "BTC-USD")[0] == 0
    before = _bot(engine)
    out_of_cap = copy.deepcopy(report)
    out_of_cap["suggested_patch"]["trade_size_usd"] = "80"  # max_trade_usd is 25
    out_of_cap["suggested_patch"]["max_tranches"] = 9  # the cap is 3
    run_id = _store(engine, out_of_cap)
    code, _, err = cli("optimize", "--apply", str(run_id), "--bot", "b")
    assert code != 0
    assert "trade_size_usd" in err and "max_tranches" in err
    after = _bot(engine)
    assert (after.trade_size_usd, after.max_tranches, after.buy_threshold) == (
        before.trade_size_usd,
        before.max_tranches,
        before.buy_threshold,
    )
    assert _audit(engine) == []


def test_a_run_on_another_pair_is_not_applied(cli, engine, report) -> None:
    assert cli("bots", "create", "--name", "e", "--pair", "ETH-USD")[0] == 0
    run_id = _store(engine, report)
    code, _, err = cli("optimize", "--apply", str(run_id), "--bot", "e")
    assert code != 0 and "BTC-USD" in err and "ETH-USD" in err
    assert _audit(engine) == []


def test_stored_runs_are_listed_and_shown_with_out_of_sample_figures(cli, engine, report) -> None:
    run_id = _store(engine, report)
    code, out, err = cli("optimize", "--list")
    assert code == 0, err
    assert "BTC-USD" in out and "OOS return" in out
    code, out, err = cli("optimize", "--show", str(run_id))
    assert code == 0, err
    assert "out-of-sample" in out and "parameter stability" in out
    assert f"--apply {run_id}" in out
    assert cli("optimize", "--show", "999")[0] != 0


def test_the_command_runs_stores_and_lists_an_optimisation(cli, engine) -> None:
    code, out, err = cli(
        "optimize", "--pair", "BTC-USD", "--source", "hourly_2024", "--to", "2024-01-25",
        "--trials", "2", "--folds", "2", "--space", "thresholds", "--seed", "5",
    )  # fmt: skip
    assert code == 0, err
    assert "out-of-sample" in out and "apply with: coinpilot optimize --apply 1" in out
    code, out, _ = cli("optimize", "--list")
    assert code == 0 and "tpe" in out and "2 × 2" in out


def test_a_bad_objective_or_group_is_one_line_naming_both(cli, engine) -> None:
    code, out, err = cli("optimize", "--objective", "wealth", "--space", "luck", "--source", "hourly_2024")
    assert code != 0 and err.count("\n") == 1
    assert "objective must be one of" in err and "luck" in err
    assert "optimising" not in out  # refused before any work starts
