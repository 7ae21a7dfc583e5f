"""Exception → HTTP mapping, so every error a user sees is one clear sentence with a field."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from coinpilot.domain.signal_config import FieldError
from coinpilot.engine.loop.evaluator import BotNotFound
from coinpilot.exchange.base import AuthenticationFailed, ExchangeError, ExchangeUnavailable, ProductNotFound
from coinpilot.store.bots import BotConflict


class FieldValidationError(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class NotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def field_errors_response(errors: list[FieldError], location: str = "body") -> JSONResponse:
    return JSONResponse(
        status_code=422,
        content={
            "detail": [
                {"loc": [location, *e.field.split(".")], "msg": e.message, "type": "value_error"}
                for e in errors
            ]
        },
    )


def _json_safe(value: Any) -> Any:
    """The refused input echoed back as valid JSON: NaN and infinities become text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input, and a NaN in it made the 422 itself a 500.
        return JSONResponse(status_code=422, content={"detail": _json_safe(jsonable_encoder(exc.errors()))})

    @app.exception_handler(FieldValidationError)
    async def _fields(_: Request, exc: FieldValidationError) -> JSONResponse:
        return field_errors_response(exc.errors)

    @app.exception_handler(BotConflict)
    async def _conflict(_: Request, exc: BotConflict) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": exc.message, "field": exc.field})

    @app.exception_handler(BotNotFound)
    async def _bot_missing(_: Request, exc: BotNotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(NotFound)
    async def _missing(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": f"{exc.what} not found"})

    @app.exception_handler(ProductNotFound)
    async def _product(_: Request, exc: ProductNotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": exc.reason, "code": exc.code})

    @app.exception_handler(AuthenticationFailed)
    async def _auth(_: Request, exc: AuthenticationFailed) -> JSONResponse:
        return JSONResponse(status_code=502, content={"detail": exc.reason, "code": exc.code})

    @app.exception_handler(ExchangeUnavailable)
    async def _unavailable(_: Request, exc: ExchangeUnavailable) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": exc.reason, "code": exc.code})

    @app.exception_handler(ExchangeError)
    async def _exchange(_: Request, exc: ExchangeError) -> JSONResponse:
        return JSONResponse(status_code=502, content={"detail": exc.reason, "code": exc.code})
