"""Persistence: SQLAlchemy 2 models, repositories, Alembic migrations."""
