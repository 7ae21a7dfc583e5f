"""Account-wide risk: trading-state control and the kill switch, the exchange and daily-loss
breakers, position drift, gradual risk escalation."""
