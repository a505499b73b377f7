"""a uniqueId names one document: unique among the latest versions

Revision ID: 9bcefa61b9c9
Revises: 4303b5de0b22
Create Date: 2026-12-03 14:47:29.984193
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9bcefa61b9c9"
down_revision: str | Sequence[str] | None = "4303b5de0b22"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index(
            "ux_documents_unique_id_latest",
            ["unique_id"],
            unique=True,
            sqlite_where=sa.text("latest"),
            postgresql_where=sa.text("latest"),
        )


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index("ux_documents_unique_id_latest")
