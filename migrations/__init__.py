"""Alembic migrations of the services layer (run by services.db.prepare_database)."""
