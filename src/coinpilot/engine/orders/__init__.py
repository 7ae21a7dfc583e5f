"""Orders from decision to settlement: the locked safety check and PENDING row (the outbox),
sending, the order sync, settlement exactly once, reconciliation and unsent-order handling."""
