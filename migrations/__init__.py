"""Alembic migration scripts (``provisioner db upgrade``). The only way the schema changes."""
