"""Exchange adapters behind one interface: Coinbase (official SDK), paper (mock fills), replay."""
