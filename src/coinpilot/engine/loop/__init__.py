"""The bot loop: the scheduler's cycle (which bots are due, market data, scores, the protection pass, the
recorded evaluations), the background threads, start-up and shutdown."""
