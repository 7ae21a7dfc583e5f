"""FastAPI dependencies: the services container and bearer-token auth."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coinpilot.security import tokens_match
from coinpilot.services import Services

_bearer = HTTPBearer(auto_error=False, description="COINPILOT_API_TOKEN (printed once at first start)")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> str:
    expected: str = request.app.state.api_token
    if credentials is None or not tokens_match(credentials.credentials, expected):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong API token: send 'Authorization: Bearer <token>' "
            "(the token is in COINPILOT_HOME/api_token or COINPILOT_API_TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return "api"
