"""A local HTTP receiver for alert tests: Apprise's ``json://127.0.0.1:PORT/`` posts here.

It records every JSON body it is sent, and on request answers with errors (to exercise retries)
or hangs (to prove that a stuck receiver slows nothing but the delivery thread).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class AlertReceiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0  # answer this many requests with HTTP 500
        self.hang_seconds = 0.0  # wait this long before answering each request
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if receiver.hang_seconds:
                    receiver._release.wait(receiver.hang_seconds)
                with receiver._lock:
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    else:
                        receiver.received.append(json.loads(body or b"{}"))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The Apprise URL of this receiver (generic JSON webhook)."""
        return f"json://127.0.0.1:{self._server.server_address[1]}/"

    def titles(self) -> list[str]:
        with self._lock:
            return [str(m.get("title")) for m in self.received]

    def start(self) -> AlertReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
