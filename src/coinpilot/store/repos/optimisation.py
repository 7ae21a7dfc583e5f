"""Stored optimisation runs: save a report, list runs to compare them, load one to show or apply."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from coinpilot.store.models import OptimisationRun


def save_run(session: Session, report: dict[str, Any], at: datetime, base_bot: str | None) -> OptimisationRun:
    settings = report["settings"]
    row = OptimisationRun(
        created_at=at,
        pair=report["pair"],
        granularity=report["granularity"],
        objective=settings["objective"],
        sampler=settings["sampler"],
        seed=int(settings["seed"]),
        trials=int(settings["trials_per_fold"]),
        folds=len(report["windows"]),
        base_bot=base_bot,
        oos_return_pct=float(report["out_of_sample"]["compounded_return_pct"]),
        elapsed_seconds=float(report["elapsed_seconds"]),
        report=report,
    )
    session.add(row)
    session.flush()
    return row


def list_runs(session: Session, limit: int = 50) -> list[OptimisationRun]:
    return list(session.scalars(sa.select(OptimisationRun).order_by(OptimisationRun.id.desc()).limit(limit)))


def get_run(session: Session, run_id: int) -> OptimisationRun | None:
    return session.get(OptimisationRun, run_id)
