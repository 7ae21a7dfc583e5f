from decimal import Decimal

import pytest

from coinpilot.domain.trade_state import (
    ALLOWED_TRANSITIONS,
    IllegalTransition,
    can_transition,
    status_from_exchange,
    transition,
)
from coinpilot.domain.types import FINAL_TRADE_STATUSES, TradeStatus

T = TradeStatus

LEGAL = [
    (T.PENDING, T.OPEN),
    (T.OPEN, T.FILLED),
    (T.FILLED, T.SETTLED),
    (T.PENDING, T.FILLED),
    (T.PENDING, T.CANCELLED),
    (T.PENDING, T.EXPIRED),
    (T.PENDING, T.FAILED),
    (T.OPEN, T.CANCELLED),
    (T.OPEN, T.EXPIRED),
    (T.OPEN, T.FAILED),
]


@pytest.mark.parametrize(("current", "new"), LEGAL)
def test_legal_transition_returns_new_status(current: T, new: T) -> None:
    assert can_transition(current, new)
    assert transition(current, new) is new


@pytest.mark.parametrize("status", list(T))
def test_same_state_transition_is_an_allowed_noop(status: T) -> None:
    assert transition(status, status) is status


def test_every_pair_not_listed_as_legal_raises() -> None:
    legal = set(LEGAL)
    for current in T:
        for new in T:
            if current == new or (current, new) in legal:
                continue
            assert not can_transition(current, new)
            with pytest.raises(IllegalTransition):
                transition(current, new)


def test_illegal_transition_message_names_both_statuses() -> None:
    with pytest.raises(IllegalTransition, match="SETTLED -> OPEN"):
        transition(T.SETTLED, T.OPEN)


def test_illegal_transition_is_a_value_error() -> None:
    assert issubclass(IllegalTransition, ValueError)


def test_final_statuses_have_no_outgoing_transitions() -> None:
    for status in FINAL_TRADE_STATUSES:
        assert ALLOWED_TRANSITIONS[status] == frozenset()


def test_filled_cannot_fail_or_cancel() -> None:
    for new in (T.FAILED, T.CANCELLED, T.EXPIRED, T.OPEN, T.PENDING):
        assert not can_transition(T.FILLED, new)


@pytest.mark.parametrize(
    ("exchange", "expected"),
    [
        ("PENDING", T.OPEN),
        ("OPEN", T.OPEN),
        ("QUEUED", T.OPEN),
        ("CANCEL_QUEUED", T.OPEN),
        ("UNKNOWN_ORDER_STATUS", T.OPEN),
        ("FILLED", T.FILLED),
        ("CANCELLED", T.CANCELLED),
        ("EXPIRED", T.EXPIRED),
        ("FAILED", T.FAILED),
    ],
)
def test_coinbase_status_maps_to_ours(exchange: str, expected: T) -> None:
    assert status_from_exchange(exchange, Decimal(0)) is expected


def test_exchange_status_mapping_ignores_case_and_spaces() -> None:
    assert status_from_exchange(" filled ", Decimal("0.1")) is T.FILLED


def test_unrecognised_exchange_status_keeps_polling() -> None:
    assert status_from_exchange("SOMETHING_NEW", Decimal(0)) is T.OPEN


def test_cancelled_with_partial_fill_stays_cancelled() -> None:
    assert status_from_exchange("CANCELLED", Decimal("0.001")) is T.CANCELLED


def test_failed_with_fills_becomes_cancelled_so_fills_are_kept() -> None:
    assert status_from_exchange("FAILED", Decimal("0.001")) is T.CANCELLED


def test_negative_filled_base_is_rejected() -> None:
    with pytest.raises(ValueError):
        status_from_exchange("FILLED", Decimal("-1"))
