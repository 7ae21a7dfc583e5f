"""Coinpilot: self-hosted, safety-first trading bots for Coinbase Advanced Trade."""

__version__ = "0.1.0"
