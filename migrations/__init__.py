"""Alembic migrations (one tree); run with ``centrale db upgrade``."""
