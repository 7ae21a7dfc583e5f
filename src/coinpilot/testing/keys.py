"""Throw-away Coinbase API keys for tests, in the formats Coinbase hands out.

EC keys: ``privateKey`` is a SEC1 PEM ("-----BEGIN EC PRIVATE KEY-----") and the JWT uses ES256.
Ed25519 keys: ``privateKey`` is base64 of 64 bytes (32-byte seed + 32-byte public key) and the
JWT uses EdDSA. The stand-in server only ever sees the public half.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

KeyKind = Literal["ec", "ed25519"]


@dataclass(frozen=True)
class TestKey:
    """One API key: ``name`` and ``private_key`` go to the client, ``public_pem`` to the server."""

    __test__ = False  # not a pytest class

    name: str
    private_key: str
    public_pem: str
    kind: KeyKind

    def key_file_dict(self) -> dict[str, str]:
        return {"name": self.name, "privateKey": self.private_key}

    def write_key_file(self, path: Path) -> Path:
        """Write Coinbase's JSON key file (``name``, ``privateKey``)."""
        path.write_text(json.dumps(self.key_file_dict()))
        path.chmod(0o600)
        return path


def _key_name() -> str:
    return f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"


def generate_ec_key(name: str | None = None) -> TestKey:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return TestKey(name or _key_name(), pem, public.decode(), "ec")


def generate_ed25519_key(name: str | None = None) -> TestKey:
    private = ed25519.Ed25519PrivateKey.generate()
    seed = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pub_raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    secret = base64.b64encode(seed + pub_raw).decode()
    return TestKey(name or _key_name(), secret, public.decode(), "ed25519")


def generate_key(kind: KeyKind = "ec", name: str | None = None) -> TestKey:
    return generate_ed25519_key(name) if kind == "ed25519" else generate_ec_key(name)


def public_pem_from_private(private_key: str) -> str:
    """Public PEM for a Coinbase-format private key (PEM EC or base64 Ed25519)."""
    if private_key.lstrip().startswith("-----BEGIN"):
        loaded = serialization.load_pem_private_key(private_key.encode(), password=None)
        pub = loaded.public_key()
    else:
        raw = base64.b64decode("".join(private_key.split()))
        pub = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32]).public_key()
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
