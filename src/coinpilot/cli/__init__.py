"""The ``coinpilot`` command line. Errors print one line and exit non-zero."""

from coinpilot.cli.main import main

__all__ = ["main"]
