"""Access: every API token has an expiry.

A token lived until it was revoked, so one copied into a script or a ticket years ago still
worked. Tokens now carry ``expires_at`` and are refused after it. Tokens existing at the upgrade
get the default lifetime counted from the upgrade, so no provider's system loses its access
without the time to get a new token.

Revision ID: access_0002
Revises: access_0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "access_0002"
down_revision: str | Sequence[str] | None = "access_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default lifetime of a new token (``access.accounts.DEFAULT_TOKEN_DAYS`` when written);
# a copy, since a migration must keep doing what it did when the code moves on.
EXISTING_TOKEN_DAYS = 90


def upgrade() -> None:
    with op.batch_alter_table("access_token") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True)))
    token = sa.table("access_token", sa.column("expires_at", sa.DateTime(timezone=True)))
    expires = datetime.now(UTC) + timedelta(days=EXISTING_TOKEN_DAYS)
    op.execute(token.update().values(expires_at=expires))
    with op.batch_alter_table("access_token") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("access_token") as batch:
        batch.drop_column("expires_at")
