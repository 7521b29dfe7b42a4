"""Alembic environment: runs migrations on the engine the Store hands over.

Each area of the system keeps its own branch of migrations (``branch_labels``) rooted on the core
revision, so areas evolve their tables independently and ``upgrade heads`` brings all of them up.
SQLite needs batch mode for ALTER TABLE; it is switched on for every migration.
"""

from alembic import context

import safeguarding.store.models  # noqa: F401  (registers every table on the metadata)
from safeguarding.store.base import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
