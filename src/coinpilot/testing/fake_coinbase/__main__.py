"""Run the stand-in as a process; prints {"port", "base_url", "cert_path"} as one JSON line.

``--key-file`` takes a Coinbase key file ({name, privateKey}) or a JSON list of them, or of
{name, public_pem}. ``--state`` takes a JSON file: {"balances": {"USD": "1000"},
"prices": {"BTC-USD": "50000"}, "fill_delay": 0.05, "partial_fills": 1, "taker_fee_rate": "0.006",
"maker_fee_rate": "0.004"} (all optional). Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from coinpilot.testing.fake_coinbase.server import FakeCoinbase
from coinpilot.testing.keys import public_pem_from_private


def _load_keys(fake: FakeCoinbase, path: Path) -> None:
    data: Any = json.loads(path.read_text())
    for item in data if isinstance(data, list) else [data]:
        pem = item.get("public_pem") or public_pem_from_private(item["privateKey"])
        fake.add_key(item["name"], pem)


def _load_state(fake: FakeCoinbase, path: Path) -> None:
    data: dict[str, Any] = json.loads(path.read_text())
    for cur, amount in (data.get("balances") or {}).items():
        fake.set_balance(cur, str(amount))
    for pid, price in (data.get("prices") or {}).items():
        fake.set_price(pid, str(price))
    fake.set_fill_behaviour(data.get("fill_delay"), data.get("partial_fills"))
    if "taker_fee_rate" in data:
        fake.set_fees(str(data["taker_fee_rate"]), str(data.get("maker_fee_rate", "0.004")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coinpilot.testing.fake_coinbase")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key-file", type=Path, action="append", default=[])
    parser.add_argument("--state", type=Path)
    parser.add_argument("--workdir", type=Path, help="where cert.pem/key.pem are written")
    args = parser.parse_args(argv)
    fake = FakeCoinbase(port=args.port, workdir=args.workdir)
    for key_file in args.key_file:
        _load_keys(fake, key_file)
    if args.state:
        _load_state(fake, args.state)
    fake.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sys.stdout.write(json.dumps(fake.info()) + "\n")
    sys.stdout.flush()
    stop.wait()
    fake.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
