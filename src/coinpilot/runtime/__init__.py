"""Wiring one process's engine threads from the composition root (:mod:`coinpilot.services`):
start-up reconciliation, order sync, the bot loop, leases, drift checks, graceful shutdown.

Kept out of :mod:`coinpilot.engine` so the engine never imports the composition root that builds it."""
