"""passkeys: WebAuthn user handles, challenges (hashed) and credentials

Revision ID: 0014_passkeys
Revises: 0013_oidc_providers
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_passkeys"
down_revision: str | None = "0013_oidc_providers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "passkey_users",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("handle", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth.users.id"], name=op.f("fk_passkey_users_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_passkey_users")),
        sa.UniqueConstraint("handle", name=op.f("uq_passkey_users_handle")),
        schema="auth",
    )
    op.create_table(
        "passkey_challenges",
        sa.Column("challenge_hash", sa.LargeBinary(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose in ('register', 'authenticate')", name=op.f("ck_passkey_challenges_purpose")
        ),
        sa.CheckConstraint(
            "purpose = 'authenticate' or user_id is not null",
            name=op.f("ck_passkey_challenges_register_has_user"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth.users.id"],
            name=op.f("fk_passkey_challenges_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("challenge_hash", name=op.f("pk_passkey_challenges")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_passkey_challenges_user_id"),
        "passkey_challenges",
        ["user_id"],
        unique=False,
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_passkey_challenges_expires_at"),
        "passkey_challenges",
        ["expires_at"],
        unique=False,
        schema="auth",
    )
    op.create_table(
        "passkeys",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("transports", postgresql.ARRAY(sa.String(length=16)), server_default="{}", nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("backed_up", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("aaguid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth.users.id"], name=op.f("fk_passkeys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passkeys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_passkeys_credential_id")),
        schema="auth",
    )
    op.create_index(op.f("ix_auth_passkeys_user_id"), "passkeys", ["user_id"], unique=False, schema="auth")


def downgrade() -> None:
    op.drop_index(op.f("ix_auth_passkeys_user_id"), table_name="passkeys", schema="auth")
    op.drop_table("passkeys", schema="auth")
    op.drop_index(
        op.f("ix_auth_passkey_challenges_expires_at"), table_name="passkey_challenges", schema="auth"
    )
    op.drop_index(op.f("ix_auth_passkey_challenges_user_id"), table_name="passkey_challenges", schema="auth")
    op.drop_table("passkey_challenges", schema="auth")
    op.drop_table("passkey_users", schema="auth")
