"""``coinpilot tokens|escalation|audit`` as real subprocesses."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from coinpilot.store.models import ApiToken
from coinpilot.store.repos.tokens import hash_token
from tests.integration.test_cli import cli_env, run  # noqa: F401  (fixture)


def test_tokens_create_prints_the_secret_once_list_and_revoke(cli_env, engine) -> None:  # noqa: F811
    created = run(cli_env, "tokens", "create", "alice")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert len(secret) >= 40
    with engine.connect() as conn:
        assert conn.execute(sa.select(ApiToken.token_hash)).scalar_one() == hash_token(secret)
    listing = run(cli_env, "tokens", "list")
    assert "alice" in listing.stdout and "default" in listing.stdout and secret not in listing.stdout
    again = run(cli_env, "tokens", "create", "alice")
    assert again.returncode == 1 and again.stderr.startswith("error:") and "exists" in again.stderr
    assert run(cli_env, "tokens", "revoke", "alice").returncode == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(ApiToken.revoked_at)).scalar_one() is not None


def test_the_audit_command_exports_cli_changes_as_csv(cli_env) -> None:  # noqa: F811
    run(cli_env, "bots", "create", "--name", "b1", "--pair", "BTC-USD", "--trade-size", "10")
    edited = run(cli_env, "bots", "edit", "b1", "--trade-size", "12")
    assert edited.returncode == 0, edited.stderr
    r = run(cli_env, "audit", "--csv", "-")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(row["action"], row["actor"]) for row in rows] == [("bot_updated", "cli"), ("bot_created", "cli")]
    assert rows[0]["before"] == '{"trade_size_usd": "10"}' and rows[0]["after"] == '{"trade_size_usd": "12"}'
    assert '"name": "b1"' in rows[1]["after"]


def test_escalation_in_mock_mode_says_it_is_not_escalated(cli_env) -> None:  # noqa: F811
    status = run(cli_env, "escalation", "status")
    assert status.returncode == 0 and "mock mode is not escalated" in status.stdout
    approve = run(cli_env, "escalation", "approve")
    assert approve.returncode == 1
    assert approve.stderr.strip().startswith("error: not approved: mock mode is not escalated")
