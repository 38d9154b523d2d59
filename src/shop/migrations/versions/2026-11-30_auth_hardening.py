"""auth hardening: asks for mailed links recorded for any email; outbox found by recipient (erasure)

Revision ID: 0006_auth_hardening
Revises: 0005_mfa
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_auth_hardening"
down_revision: str | None = "0005_mfa"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_link_requests",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("ip", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.CheckConstraint("purpose in ('verify', 'reset')", name=op.f("ck_email_link_requests_purpose")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_link_requests")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_email_link_requests_email"),
        "email_link_requests",
        ["email"],
        unique=False,
        schema="auth",
    )
    op.create_index("ix_outbox_recipient", "outbox", ["recipient"], unique=False, schema="mail")


def downgrade() -> None:
    op.drop_index("ix_outbox_recipient", table_name="outbox", schema="mail")
    op.drop_index(op.f("ix_auth_email_link_requests_email"), table_name="email_link_requests", schema="auth")
    op.drop_table("email_link_requests", schema="auth")
