"""Starting the HTTP server with its background engine: used by ``serve`` and ``demo``."""

from __future__ import annotations

import errno
import gc
import socket
from collections.abc import Callable

from coinpilot.cli.common import CliError, console
from coinpilot.config import Settings
from coinpilot.logs import configure_logging
from coinpilot.services import Services, build_services
from coinpilot.store.db import describe_url


def ensure_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CliError(
                    f"port {port} on {host} is already in use: stop the other process or choose "
                    "another port with --port / COINPILOT_PORT"
                ) from None
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def start_background(services: Services) -> Callable[[], None]:
    """Start the engine threads for this process; returns a function that stops them."""
    from coinpilot.engine.background import start_engine

    return start_engine(services)


def start_order_services(services: Services) -> Callable[[], None]:
    """Without the bot loop (``serve --no-engine``) manual orders still need their safety net:
    reconcile unfinished trades before the API accepts requests, then keep syncing orders."""
    from coinpilot.engine.reconcile import reconcile_all
    from coinpilot.engine.shutdown import drain_in_flight

    reconcile_all(services.sessions, services.exchange, services.clock, services.mode)
    services.reconciled = True
    services.sync.start()

    def stop() -> None:
        drain_in_flight(services, services.settings.shutdown_grace_seconds)
        services.sync.stop()
        services.sync.sync_once()

    return stop


def run_server(settings: Settings, services: Services | None = None, with_engine: bool = True) -> None:
    import uvicorn

    from coinpilot.api.app import create_app
    from coinpilot.security import load_or_create_token
    from coinpilot.store.backup import ServerLock

    ensure_port_free(settings.host, settings.port)
    configure_logging(settings)
    # Held while serving so that `coinpilot restore` refuses to replace a database in use.
    server_lock = ServerLock.for_settings(settings).acquire()
    services = services or build_services(settings)
    token, created = load_or_create_token(
        settings.home, settings.api_token.get_secret_value() if settings.api_token else None
    )
    app = create_app(settings, services, background=start_background if with_engine else start_order_services)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold]Coinpilot[/bold] mode: [bold]{settings.trading_mode.value}[/bold]")
    console.print(f"database:  {describe_url(settings.resolved_database_url)}")
    console.print(f"dashboard: {base}/")
    console.print(f"API docs:  {base}/docs")
    if created:
        console.print(
            f"API token (shown once, stored with 0600 in {settings.home / 'api_token'}): {token}",
            soft_wrap=True,
        )
    # Start-up objects live for the whole process: move them out of the collector's way so
    # garbage-collection pauses do not land inside an order (measured: p99 of the order path).
    gc.collect()
    gc.freeze()
    try:
        # SIGTERM/SIGINT: uvicorn stops accepting connections, lets in-flight requests (an order
        # being placed) finish, then the lifespan stops the engine (see engine/shutdown.py).
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds)),
        )
    finally:
        services.close()
        server_lock.release()
