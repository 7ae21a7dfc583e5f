"""Drive the stand-in as a separate process (for tests that run coinpilot in a subprocess too).

with FakeCoinbaseProcess(tmp_path, keys=[key], state={"balances": {"USD": "1000"}}) as fake:
    env = fake.coinpilot_env(key_file)   # COINPILOT_* variables for a coinpilot subprocess
    fake.set_price("BTC-USD", "61000"); fake.inject("drop", "/orders$", method="POST")
    fake.order_count("my-client-order-id")
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from coinpilot.testing.keys import TestKey


class FakeCoinbaseProcess:
    def __init__(
        self, workdir: Path, keys: list[TestKey] | None = None, state: dict[str, Any] | None = None
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._keys = keys or []
        self._state = state
        self._proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> FakeCoinbaseProcess:
        keys_path = self.workdir / "fake_keys.json"
        keys_path.write_text(json.dumps([{"name": k.name, "public_pem": k.public_pem} for k in self._keys]))
        cmd = [sys.executable, "-m", "coinpilot.testing.fake_coinbase", "--port", "0"]
        cmd += ["--key-file", str(keys_path), "--workdir", str(self.workdir / "tls")]
        if self._state is not None:
            state_path = self.workdir / "fake_state.json"
            state_path.write_text(json.dumps(self._state))
            cmd += ["--state", str(state_path)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("fake coinbase process did not start")
        self.info = json.loads(line)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
            self._proc = None

    def __enter__(self) -> FakeCoinbaseProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    @property
    def cert_path(self) -> str:
        return str(self.info["cert_path"])

    def coinpilot_env(self, key_file: Path) -> dict[str, str]:
        """Environment for a coinpilot subprocess in production mode against this stand-in."""
        return {
            "COINPILOT_UNDER_TEST": "1",
            "COINPILOT_TRADING_MODE": "production",
            "COINPILOT_COINBASE_BASE_URL": self.base_url,
            "COINPILOT_COINBASE_KEY_FILE": str(key_file),
            "COINPILOT_COINBASE_CA_CERT": self.cert_path,
        }

    def control(self, route: str, body: dict[str, Any] | None = None) -> Any:
        url = f"https://{self.base_url}/__control__/{route}"
        if body is None and route == "state":
            resp = requests.get(url, verify=self.cert_path, timeout=5)
        else:
            resp = requests.post(url, json=body or {}, verify=self.cert_path, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def set_price(self, product_id: str, price: str, spread: str | None = None) -> None:
        self.control("price", {"product_id": product_id, "price": price, "spread": spread})

    def set_balance(self, currency: str, amount: str) -> None:
        self.control("balance", {"currency": currency, "amount": amount})

    def inject(
        self,
        kind: str,
        path: str = ".*",
        *,
        method: str | None = None,
        count: int | None = 1,
        seconds: float = 0.0,
    ) -> None:
        self.control(
            "fault", {"kind": kind, "path": path, "method": method, "count": count, "seconds": seconds}
        )

    def clear_faults(self) -> None:
        self.control("clear_faults")

    def state(self) -> dict[str, Any]:
        return dict(self.control("state"))

    def order_count(self, client_order_id: str) -> int:
        return int(self.state()["orders_per_client_id"].get(client_order_id, 0))
