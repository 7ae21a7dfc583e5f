"""Checks the SDK's JWT the way Coinbase does: signature, kid/sub, iss, nbf/exp and uri."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519


class AuthError(Exception):
    """The request is not authenticated; the message becomes the 401 body."""


@dataclass
class RegisteredKey:
    name: str
    public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
    can_view: bool = True
    can_trade: bool = True
    can_transfer: bool = False

    @property
    def algorithm(self) -> str:
        return "EdDSA" if isinstance(self.public_key, ed25519.Ed25519PublicKey) else "ES256"


class KeyRing:
    """The keys the stand-in accepts. ``clock_offset`` shifts the verifier's "now" (seconds)."""

    def __init__(self) -> None:
        self._keys: dict[str, RegisteredKey] = {}
        self._lock = threading.Lock()
        self.clock_offset = 0.0

    def add(
        self, name: str, public_pem: str, *, can_view: bool = True, can_trade: bool = True
    ) -> RegisteredKey:
        pub = serialization.load_pem_public_key(public_pem.encode())
        if not isinstance(pub, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
            raise ValueError("only EC P-256 and Ed25519 keys are supported")
        key = RegisteredKey(name, pub, can_view=can_view, can_trade=can_trade)
        with self._lock:
            self._keys[name] = key
        return key

    def remove(self, name: str) -> None:
        with self._lock:
            self._keys.pop(name, None)

    def verify(self, authorization: str | None, method: str, host: str, path: str) -> RegisteredKey:
        """Return the key that signed the request or raise AuthError."""
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("missing bearer token")
        token = authorization[len("Bearer ") :].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from None
        kid = header.get("kid")
        with self._lock:
            key = self._keys.get(str(kid))
        if key is None:
            raise AuthError("unknown api key")
        if header.get("alg") != key.algorithm:
            raise AuthError(f"wrong algorithm {header.get('alg')!r} for this key")
        now = time.time() + self.clock_offset
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[key.algorithm],
                issuer="cdp",
                options={
                    "require": ["exp", "nbf", "sub", "iss", "uri"],
                    "verify_exp": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        if claims["sub"] != key.name:
            raise AuthError("sub does not match kid")
        if not claims["nbf"] <= now + 5:
            raise AuthError("token not yet valid")
        if not now < claims["exp"]:
            raise AuthError("token expired")
        expected = f"{method} {host}{path}"
        if claims["uri"] != expected:
            raise AuthError(f"uri claim {claims['uri']!r} does not match {expected!r}")
        return key
