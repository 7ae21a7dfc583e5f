"""Repositories: the queries and row updates of the order path, one module per concern.

Every query that feeds a figure filters by trading mode, so mock and production never mix.
Money is summed in Python (SQLite stores it as text; see ``coltypes``).
"""
