"""Running several workers: the leases that give each bot to exactly one process."""
