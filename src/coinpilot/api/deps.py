"""FastAPI dependencies: the services container and bearer-token auth.

``require_token`` returns the *name* of the token presented — ``default`` for the configured
``COINPILOT_API_TOKEN``, else the name of an active token from ``coinpilot tokens create`` — so a
route can record who made a change (``actor: str = Depends(require_token)``; FastAPI runs the
dependency once per request however often it is named).
"""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coinpilot.security import tokens_match
from coinpilot.services import Services
from coinpilot.store.db import read_session
from coinpilot.store.repos.tokens import DEFAULT_TOKEN_NAME, token_name

_bearer = HTTPBearer(auto_error=False, description="COINPILOT_API_TOKEN (printed once at first start)")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> str:
    expected: str = request.app.state.api_token
    name: str | None = None
    if credentials is not None:
        if tokens_match(credentials.credentials, expected):
            name = DEFAULT_TOKEN_NAME
        else:
            with read_session(get_services(request).sessions) as s:
                name = token_name(s, credentials.credentials)
    if name is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong API token: send 'Authorization: Bearer <token>' "
            "(the token is in COINPILOT_HOME/api_token or COINPILOT_API_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return name
