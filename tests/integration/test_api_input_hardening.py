"""Malformed input at the API edge: a 422 naming the field (or 404), never a 500, nothing stored.

Each case was found by fuzzing the public API (issue 11): out-of-range ids, ``null`` for required
fields, NaN/Infinity/overflow, booleans read as numbers, decimals in odd spellings, and
pairs/names with a trailing newline (``$`` matches before it).
"""

from __future__ import annotations

from typing import Any

from tests.conftest import AUTH
from tests.integration.test_api_bots import database_fingerprint, new_bot

BIG_IDS = [2**31, 2**63, 2**64, 10**30]
ID_ROUTES = [
    ("GET", "/api/v1/bots/{}"),
    ("PATCH", "/api/v1/bots/{}"),
    ("DELETE", "/api/v1/bots/{}"),
    ("POST", "/api/v1/bots/{}/start"),
    ("POST", "/api/v1/bots/{}/stop"),
    ("POST", "/api/v1/bots/{}/evaluate"),
    ("GET", "/api/v1/bots/{}/confirmation"),
    ("POST", "/api/v1/bots/{}/confirmation/reset"),
    ("GET", "/api/v1/bots/{}/signal-history"),
    ("GET", "/api/v1/bots/{}/trades"),
    ("GET", "/api/v1/bots/{}/position"),
    ("GET", "/api/v1/trades/{}"),
]
NOT_NULLABLE = [
    "name",
    "description",
    "granularity",
    "signal_config",
    "buy_threshold",
    "sell_threshold",
    "confirmation_minutes",
    "trade_size_usd",
    "cooldown_minutes",
    "max_tranches",
    "strategy",
]
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]
FLOAT_FIELDS = [
    "trade_size_usd",
    "buy_threshold",
    "confirmation_minutes",
    "cooldown_minutes",
    "stop_loss_pct",
]
ODD_DECIMALS = [" 5", "5 ", "+5", "1_0", "\u0665", "\uff15", "5\n", "1e1", "0x10", "5.", ".5", "--5", ""]


def _make_bot(client, pair: str = "BTC-USD", name: str = "btc") -> int:
    r = client.post("/api/v1/bots", json=new_bot(name=name, pair=pair), headers=AUTH)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _fields_of(r) -> list[str]:
    """Every field a 422 names (the loc after 'body'/'path'/'query')."""
    return [".".join(str(p) for p in d["loc"][1:]) for d in r.json()["detail"]]


def _raw(client, method: str, url: str, body: str):
    headers = {**AUTH, "Content-Type": "application/json"}
    return client.request(method, url, content=body.encode(), headers=headers)


class _Expect:
    """Collects every case that slipped (one app per test keeps the suite fast)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.slipped: list[str] = []

    def refused(self, case: str, r, field: str | None, statuses=(422,)) -> None:
        if r.status_code not in statuses:
            self.slipped.append(f"{case}: {r.status_code} {r.text[:200]}")
        elif (
            r.status_code == 422
            and field is not None
            and not any(f == field or f.startswith(field + ".") for f in _fields_of(r))
        ):
            self.slipped.append(f"{case}: 422 names {_fields_of(r)}, not {field}")

    def unchanged(self, before: str, case: str) -> None:
        if database_fingerprint(self.engine) != before:
            self.slipped.append(f"{case}: the database changed")

    def check(self) -> None:
        assert not self.slipped, "\n".join(self.slipped)


def test_ids_beyond_the_database_range_are_404_or_422_not_500(client, engine) -> None:
    bot = _make_bot(client)
    client.post("/api/v1/trading/enable", headers=AUTH)
    before = database_fingerprint(engine)
    expect = _Expect(engine)
    for big in BIG_IDS:
        for method, template in ID_ROUTES:
            kwargs: dict[str, Any] = {"headers": AUTH}
            if method == "PATCH":
                kwargs["json"] = {"description": "x"}
            r = client.request(method, template.format(big), **kwargs)
            expect.refused(f"{method} {template} {big}", r, None, (404, 422))
        for route in ("validate", "execute"):
            body = {"bot_id": big, "side": "buy", "quote_size": "10"}
            r = client.post(f"/api/v1/trades/{route}", json=body, headers=AUTH)
            expect.refused(f"{route} bot_id={big}", r, "bot_id")
    expect.unchanged(before, "ids")
    assert client.get(f"/api/v1/bots/{bot}").status_code == 200
    expect.check()


def test_patch_with_null_for_a_required_field_is_422_naming_it(client, engine) -> None:
    bot = _make_bot(client)
    before = database_fingerprint(engine)
    expect = _Expect(engine)
    for field in NOT_NULLABLE:
        r = client.patch(f"/api/v1/bots/{bot}", json={field: None}, headers=AUTH)
        expect.refused(f"{field}=null", r, field)
    expect.unchanged(before, "nulls")
    expect.check()


def test_patch_with_null_clears_an_optional_field(client) -> None:
    bot = _make_bot(client)
    for field in ("stop_loss_pct", "take_profit_pct"):
        r = client.patch(f"/api/v1/bots/{bot}", json={field: None}, headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json()[field] is None


def test_non_finite_numbers_in_a_bot_body_are_422_naming_the_field(client, engine) -> None:
    bot = _make_bot(client, "ETH-USD", "eth")
    before = database_fingerprint(engine)
    expect = _Expect(engine)
    for literal in NON_FINITE:
        for field in FLOAT_FIELDS:
            body = f'{{"name": "b", "pair": "BTC-USD", "{field}": {literal}}}'
            expect.refused(f"create {field}={literal}", _raw(client, "POST", "/api/v1/bots", body), field)
            patch = f'{{"{field}": {literal}}}'
            r = _raw(client, "PATCH", f"/api/v1/bots/{bot}", patch)
            expect.refused(f"patch {field}={literal}", r, field)
        for nested in ('{"rsi": {"weight": %s}}', '{"rsi": {"period": %s}}'):
            body = '{"name": "b", "pair": "BTC-USD", "signal_config": %s}' % (nested % literal)
            r = _raw(client, "POST", "/api/v1/bots", body)
            expect.refused(f"signal_config {nested % literal}", r, "signal_config")
            body = f'{{"name": "b", "pair": "BTC-USD", "strategy": {{"kind": "fixed", "x": {literal}}}}}'
            r = _raw(client, "POST", "/api/v1/bots", body)
            expect.refused(f"strategy {literal}", r, "strategy")
    expect.unchanged(before, "non-finite")
    expect.check()


def test_non_finite_sizes_in_a_trade_are_422(client, engine) -> None:
    bot = _make_bot(client)
    client.post("/api/v1/trading/enable", headers=AUTH)
    before = database_fingerprint(engine)
    expect = _Expect(engine)
    for literal in NON_FINITE:
        for route in ("validate", "execute"):
            body = f'{{"bot_id": {bot}, "side": "buy", "quote_size": {literal}}}'
            r = _raw(client, "POST", f"/api/v1/trades/{route}", body)
            expect.refused(f"{route} quote_size={literal}", r, "quote_size")
    expect.unchanged(before, "trades")
    expect.check()


def test_decimals_must_be_plain_ascii_numbers(client, engine) -> None:
    bot = _make_bot(client, "ETH-USD", "eth")
    client.post("/api/v1/trading/enable", headers=AUTH)
    before = database_fingerprint(engine)
    expect = _Expect(engine)
    for value in ODD_DECIMALS:
        r = client.post("/api/v1/bots", json=new_bot(trade_size_usd=value), headers=AUTH)
        expect.refused(f"create trade_size_usd={value!r}", r, "trade_size_usd")
        for field in ("trade_size_usd", "stop_loss_pct", "take_profit_pct"):
            r = client.patch(f"/api/v1/bots/{bot}", json={field: value}, headers=AUTH)
            expect.refused(f"patch {field}={value!r}", r, field)
        for field in ("quote_size", "base_size"):
            body = {"bot_id": bot, "side": "buy", field: value}
            r = client.post("/api/v1/trades/execute", json=body, headers=AUTH)
            expect.refused(f"execute {field}={value!r}", r, field)
    expect.unchanged(before, "decimals")
    expect.check()


def test_a_plain_decimal_is_still_accepted(client) -> None:
    r = client.post("/api/v1/bots", json=new_bot(trade_size_usd="12.50"), headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["trade_size_usd"] == "12.50"
    r = client.post("/api/v1/bots", json=new_bot(name="e", pair="ETH-USD", trade_size_usd=7), headers=AUTH)
    assert r.status_code == 201, r.text


def test_booleans_and_numbers_only_as_themselves(client, engine) -> None:
    bot = _make_bot(client, "ETH-USD", "eth")
    client.post("/api/v1/trading/enable", headers=AUTH)
    cases = [
        ("/api/v1/trades/validate", {"bot_id": True, "side": "buy", "quote_size": "10"}, "bot_id"),
        ("/api/v1/trades/execute", {"bot_id": True, "side": "buy", "quote_size": "10"}, "bot_id"),
        ("/api/v1/trades/execute", {"bot_id": str(bot), "side": "buy", "quote_size": "10"}, "bot_id"),
        ("/api/v1/trades/execute", {"bot_id": float(bot), "side": "buy", "quote_size": "10"}, "bot_id"),
        ("/api/v1/trades/execute", {"bot_id": bot, "side": "buy", "quote_size": True}, "quote_size"),
        ("/api/v1/safety/emergency-stop", {"close_positions": 0}, "close_positions"),
        ("/api/v1/safety/emergency-stop", {"cancel_open_orders": "true"}, "cancel_open_orders"),
        ("/api/v1/bots", new_bot(max_tranches=True), "max_tranches"),
        ("/api/v1/bots", new_bot(buy_threshold=True), "buy_threshold"),
        ("/api/v1/bots", new_bot(cooldown_minutes=False), "cooldown_minutes"),
        ("/api/v1/bots", new_bot(trade_size_usd=True), "trade_size_usd"),
        ("/api/v1/bots", new_bot(max_tranches="2"), "max_tranches"),
        ("/api/v1/bots", new_bot(max_tranches=2.5), "max_tranches"),
        ("/api/v1/bots", new_bot(name=5), "name"),
    ]
    before = database_fingerprint(engine)
    expect = _Expect(engine)
    for url, body, field in cases:
        expect.refused(f"{url} {body}", client.post(url, json=body, headers=AUTH), field)
    expect.unchanged(before, "types")
    expect.check()


def test_pairs_and_names_with_control_characters_or_surrounding_space_are_refused(client, engine) -> None:
    bot = _make_bot(client)  # BTC-USD taken: "BTC-USD\n" must not become a second one
    cases = [
        ("pair", "BTC-USD\n"),
        ("pair", "BTC-USD "),
        ("pair", " BTC-USD"),
        ("pair", "BTC-\u0665SD"),
        ("name", "nl\n"),
        ("name", "nl "),
        ("name", " nl"),
        ("name", "a\u0000b"),
        ("name", "tab\there"),
        ("name", "a\u202eb"),
    ]
    before = database_fingerprint(engine)
    expect = _Expect(engine)
    for field, value in cases:
        body = new_bot(**{"name": "other", "pair": "ETH-USD", field: value})
        expect.refused(
            f"create {field}={value!r}", client.post("/api/v1/bots", json=body, headers=AUTH), field
        )
        if field == "name":
            r = client.patch(f"/api/v1/bots/{bot}", json={"name": value}, headers=AUTH)
            expect.refused(f"rename {value!r}", r, "name")
    for pair in ("BTC-USD%0A", "BTC-USD%20", "btc-usd"):
        r = client.get(f"/api/v1/market/best-bid-ask/{pair}")
        expect.refused(f"best-bid-ask {pair}", r, "pair", (404, 422))
        r = client.get(f"/api/v1/market/candles/{pair}")
        expect.refused(f"candles {pair}", r, "pair", (404, 422))
    expect.unchanged(before, "strings")
    expect.check()


def test_trading_a_deleted_bot_whose_pair_was_cached_is_422_not_500(client) -> None:
    bot = _make_bot(client)
    client.post("/api/v1/trading/enable", headers=AUTH)
    body = {"bot_id": bot, "side": "buy", "quote_size": "10"}
    assert client.post("/api/v1/trades/validate", json=body, headers=AUTH).status_code == 200
    assert client.delete(f"/api/v1/bots/{bot}", headers=AUTH).status_code == 204
    for route in ("validate", "execute"):
        r = client.post(f"/api/v1/trades/{route}", json=body, headers=AUTH)
        assert r.status_code == 422, r.text
        assert _fields_of(r) == ["bot_id"]


def test_a_malformed_trade_for_a_deleted_bot_whose_pair_was_cached_is_422_not_500(client, engine) -> None:
    """Found by the fuzzer: the audit row of the malformed request named the deleted bot."""
    bot = _make_bot(client)
    client.post("/api/v1/trading/enable", headers=AUTH)
    good = {"bot_id": bot, "side": "buy", "quote_size": "10"}
    assert client.post("/api/v1/trades/validate", json=good, headers=AUTH).status_code == 200
    assert client.delete(f"/api/v1/bots/{bot}", headers=AUTH).status_code == 204
    before = database_fingerprint(engine)
    for body in ({"bot_id": bot, "side": "buy"}, {"bot_id": bot, "side": "buy", "quote_size": "0"}):
        for route in ("validate", "execute"):
            r = client.post(f"/api/v1/trades/{route}", json=body, headers=AUTH)
            assert r.status_code == 422, r.text
            assert _fields_of(r) == ["bot_id"]
    assert database_fingerprint(engine) != before  # each refusal is audited (without the bot)
