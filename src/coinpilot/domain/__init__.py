"""Pure decision logic: no database, no network, no wall clock (imports stdlib and NumPy only)."""
