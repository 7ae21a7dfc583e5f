"""SQLAlchemy 2 models, one module per table group; importing this package registers every table
on :data:`Base.metadata`, so the migrations (``migrations/env.py``) and the models are still
compared in one place (``tests/integration/test_migrations.py``).

Money columns use :class:`~coinpilot.store.coltypes.Money` (exact), times use
:class:`~coinpilot.store.coltypes.UTCDateTime` (aware UTC), and every status/side is an enum
constrained in the database. Import the models from here (``from coinpilot.store.models import
Bot``); the submodules are how the tables are grouped, not an interface.
"""

from __future__ import annotations

# Tables register in the order the single models.py declared them (Base.metadata.tables keeps it).
# isort: off
from coinpilot.store.models.base import NAMING, Base, JSONType
from coinpilot.store.models.bots import Bot, BotRuntime, Evaluation
from coinpilot.store.models.trades import Fill, Position, Trade, Tranche
from coinpilot.store.models.control import ControlEvent, ControlState, SafetyAudit
from coinpilot.store.models.paper import PaperBalance, PaperFill, PaperOrder
from coinpilot.store.models.operations import ApiToken, EscalationState, WorkerLease
from coinpilot.store.models.backtests import BacktestRun, OptimisationRun

# isort: on

__all__ = [
    "NAMING",
    "ApiToken",
    "BacktestRun",
    "Base",
    "Bot",
    "BotRuntime",
    "ControlEvent",
    "ControlState",
    "EscalationState",
    "Evaluation",
    "Fill",
    "JSONType",
    "OptimisationRun",
    "PaperBalance",
    "PaperFill",
    "PaperOrder",
    "Position",
    "SafetyAudit",
    "Trade",
    "Tranche",
    "WorkerLease",
]
