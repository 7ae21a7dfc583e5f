"""Trading, safety and trade endpoints (wired to the execution services)."""

from __future__ import annotations

from fastapi import APIRouter

routers: list[APIRouter] = []
