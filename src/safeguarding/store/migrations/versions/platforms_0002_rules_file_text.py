"""Platforms: an assessment run's rules file as text of any length.

The run stores the absolute path of the rules file it used, and the gap report reads that file
again. A path longer than 255 characters was cut to fit ``String(255)``, and the report then
looked for a file that does not exist.

Revision ID: platforms_0002
Revises: platforms_0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "platforms_0002"
down_revision: str | Sequence[str] | None = "platforms_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("platform_assessment_run") as batch:
        batch.alter_column(
            "rules_file", existing_type=sa.String(255), type_=sa.Text(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("platform_assessment_run") as batch:
        batch.alter_column(
            "rules_file", existing_type=sa.Text(), type_=sa.String(255), existing_nullable=False
        )
