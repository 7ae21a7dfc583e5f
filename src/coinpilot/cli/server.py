"""Starting the HTTP server with its background engine: used by ``serve`` and ``demo``."""

from __future__ import annotations

import errno
import gc
import ipaddress
import signal
import socket
from collections.abc import Callable

from coinpilot.cli.common import CliError, console, err_console
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


def is_loopback_bind(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_address(settings: Settings, expose: bool) -> None:
    """Listening beyond this machine needs ``--expose``, and then says what others can reach:
    GET endpoints (the dashboard, bots, trades, positions, the audit) need no token."""
    if is_loopback_bind(settings.host):
        return
    if not expose:
        raise CliError(
            f"refusing to listen on {settings.host}: that exposes the dashboard and every read-only "
            "endpoint to your network without a token; use 127.0.0.1, or pass --expose if you mean it"
        )
    hosts = ", ".join(settings.allowed_hosts)
    err_console.print(
        f"[yellow]warning:[/yellow] listening on {settings.host}:{settings.port} - anyone who can reach "
        "it can read the dashboard, bots, trades, positions, safety status and audit without a token "
        "(changes still need the API token, which travels in clear over plain HTTP). Requests are "
        f"answered only for the host names {hosts} (COINPILOT_ALLOWED_HOSTS).",
        highlight=False,
        soft_wrap=True,
    )


def start_background(services: Services) -> Callable[[], None]:
    """Start the engine threads for this process; returns a function that stops them."""
    from coinpilot.runtime.background import start_engine

    return start_engine(services)


def start_order_services(services: Services) -> Callable[[], None]:
    """Without the bot loop (``serve --no-engine``) manual orders still need their safety net:
    unfinished trades are reconciled (in the background, trading held until done), then orders
    keep syncing."""
    from coinpilot.runtime.shutdown import drain_in_flight
    from coinpilot.runtime.startup import BackgroundReconciliation

    reconciliation = BackgroundReconciliation(services, services.sync.start).start()

    def stop() -> None:
        if not reconciliation.cancel(timeout=services.settings.shutdown_grace_seconds):
            return
        drain_in_flight(services, services.settings.shutdown_grace_seconds)
        services.sync.stop()
        services.sync.sync_once()

    return stop


def _exit_cleanly_after_signals() -> None:
    """uvicorn handles SIGTERM/SIGINT itself (graceful shutdown), then re-raises the signal with
    the handlers it found. Those handlers end the process with exit code 0 through SystemExit,
    so the clean-up below ``uvicorn.run`` (checkpoint, lock release) still runs."""

    def exit_zero(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, exit_zero)


def run_server(
    settings: Settings, services: Services | None = None, with_engine: bool = True, expose: bool = False
) -> None:
    import uvicorn

    from coinpilot.api.app import create_app
    from coinpilot.security import load_or_create_token
    from coinpilot.store.backup import BackupError, ServerLock, sqlite_path

    check_bind_address(settings, expose)
    ensure_port_free(settings.host, settings.port)
    configure_logging(settings)
    # SQLite: held while serving, so `coinpilot restore` refuses to replace a database in use and
    # a second server on the same file is refused (PostgreSQL shares the database by leases).
    server_lock = ServerLock.for_settings(settings)
    if sqlite_path(settings.resolved_database_url) is not None:
        try:
            server_lock.acquire()
        except BackupError as exc:
            raise CliError(str(exc)) from None
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
    _exit_cleanly_after_signals()
    try:
        # SIGTERM/SIGINT: uvicorn stops accepting connections, lets in-flight requests (an order
        # being placed) finish, then the lifespan stops the engine (see runtime/shutdown.py).
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
