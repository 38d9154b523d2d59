"""signing keys: asymmetric key pairs for access tokens (private halves sealed)

Revision ID: 0007_signing_keys
Revises: 0006_auth_hardening
Create Date: 2026-11-30 05:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_signing_keys"
down_revision: str | None = "0006_auth_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("private_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("alg in ('EdDSA', 'ES256', 'RS256')", name=op.f("ck_signing_keys_alg")),
        sa.CheckConstraint("state in ('next', 'active', 'retired')", name=op.f("ck_signing_keys_state")),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
        schema="auth",
    )
    op.create_index(
        "uq_signing_keys_one_active",
        "signing_keys",
        ["state"],
        unique=True,
        schema="auth",
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index(
        "uq_signing_keys_one_next",
        "signing_keys",
        ["state"],
        unique=True,
        schema="auth",
        postgresql_where=sa.text("state = 'next'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_signing_keys_one_next",
        table_name="signing_keys",
        schema="auth",
        postgresql_where=sa.text("state = 'next'"),
    )
    op.drop_index(
        "uq_signing_keys_one_active",
        table_name="signing_keys",
        schema="auth",
        postgresql_where=sa.text("state = 'active'"),
    )
    op.drop_table("signing_keys", schema="auth")
