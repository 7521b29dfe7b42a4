"""The evidence store: SQLAlchemy models, sessions and Alembic migrations.

SQLite in the data directory by default; PostgreSQL when the database URL says so. Engines receive
a ``Store`` and open sessions from it; nothing else in the system creates engines.
"""

from safeguarding.store.engine import Store, open_store

__all__ = ["Store", "open_store"]
