"""localization.rate_imports: each successful fetched import (the daily ECB import) and when it ended.

Revision ID: 0010_rate_imports
Revises: 0009_postal_code_optional
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010_rate_imports"
down_revision: str | None = "0009_postal_code_optional"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_imports",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("stored", sa.Integer(), nullable=False),
        sa.Column("newest_effective_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_imports")),
        schema="localization",
    )
    op.create_index(
        "ix_rate_imports_source_finished_at",
        "rate_imports",
        ["source", sa.text("finished_at DESC")],
        unique=False,
        schema="localization",
    )


def downgrade() -> None:
    op.drop_index("ix_rate_imports_source_finished_at", table_name="rate_imports", schema="localization")
    op.drop_table("rate_imports", schema="localization")
