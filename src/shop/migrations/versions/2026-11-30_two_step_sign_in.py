"""two-step sign-in: TOTP factors, recovery codes, login challenges, the sessions' `amr`

Revision ID: 0005_mfa
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_mfa"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Sessions that exist already were started with a password alone; new rows get theirs from the app.
    op.add_column(
        "sessions",
        sa.Column(
            "amr", postgresql.ARRAY(sa.String(length=16)), server_default=sa.text("'{pwd}'"), nullable=False
        ),
        schema="auth",
    )
    op.alter_column("sessions", "amr", server_default=None, schema="auth")
    op.create_table(
        "totp_factors",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth.users.id"], name=op.f("fk_totp_factors_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_totp_factors")),
        schema="auth",
    )
    op.create_table(
        "recovery_codes",
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth.users.id"], name=op.f("fk_recovery_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_recovery_codes")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_recovery_codes_user_id"), "recovery_codes", ["user_id"], unique=False, schema="auth"
    )
    op.create_table(
        "mfa_challenges",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("ip", postgresql.INET(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth.users.id"], name=op.f("fk_mfa_challenges_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_mfa_challenges")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_mfa_challenges_user_id"), "mfa_challenges", ["user_id"], unique=False, schema="auth"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_mfa_challenges_user_id"), table_name="mfa_challenges", schema="auth")
    op.drop_table("mfa_challenges", schema="auth")
    op.drop_index(op.f("ix_auth_recovery_codes_user_id"), table_name="recovery_codes", schema="auth")
    op.drop_table("recovery_codes", schema="auth")
    op.drop_table("totp_factors", schema="auth")
    op.drop_column("sessions", "amr", schema="auth")
