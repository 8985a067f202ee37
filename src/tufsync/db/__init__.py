"""Relational registry: users, apps, versions and artifacts (SQLAlchemy 2 + Alembic)."""
