"""Read models for the API, the CLI and the dashboard: built from stored state plus the domain's
pure functions, read-only (nothing here writes; polling never changes the database)."""
