"""sign-in with other providers: identities, OpenID Connect states and one-time codes, accounts
without a password, the first factor of a second step

Revision ID: 0013_oidc_providers
Revises: 0012_email_changes
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_oidc_providers"
down_revision: str | None = "0012_email_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "users", "password_hash", existing_type=sa.String(length=255), nullable=True, schema="auth"
    )
    op.add_column(
        "mfa_challenges",
        sa.Column("first_factor", sa.String(length=16), server_default="pwd", nullable=False),
        schema="auth",
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth.users.id"], name=op.f("fk_identities_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_identities_user_id"), "identities", ["user_id"], unique=False, schema="auth"
    )
    op.create_index(
        "uq_identities_provider_subject", "identities", ["provider", "subject"], unique=True, schema="auth"
    )
    op.create_table(
        "oidc_states",
        sa.Column("state_hash", sa.LargeBinary(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("intent", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("code_verifier", sa.LargeBinary(), nullable=False),
        sa.Column("redirect_to", sa.String(length=2048), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("accept_language", sa.String(length=256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("intent in ('sign_in', 'link')", name=op.f("ck_oidc_states_intent")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth.users.id"], name=op.f("fk_oidc_states_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_oidc_states")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_oidc_states_user_id"), "oidc_states", ["user_id"], unique=False, schema="auth"
    )
    op.create_index(
        op.f("ix_auth_oidc_states_expires_at"), "oidc_states", ["expires_at"], unique=False, schema="auth"
    )
    op.create_table(
        "oidc_codes",
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth.users.id"], name=op.f("fk_oidc_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oidc_codes")),
        schema="auth",
    )
    op.create_index(
        op.f("ix_auth_oidc_codes_user_id"), "oidc_codes", ["user_id"], unique=False, schema="auth"
    )
    op.create_index(
        op.f("ix_auth_oidc_codes_expires_at"), "oidc_codes", ["expires_at"], unique=False, schema="auth"
    )


def downgrade() -> None:
    op.drop_table("oidc_codes", schema="auth")
    op.drop_table("oidc_states", schema="auth")
    op.drop_table("identities", schema="auth")
    op.drop_column("mfa_challenges", "first_factor", schema="auth")
    # Accounts made by another provider have no password: they cannot exist before this revision.
    op.execute("DELETE FROM auth.users WHERE password_hash IS NULL")
    op.alter_column(
        "users", "password_hash", existing_type=sa.String(length=255), nullable=False, schema="auth"
    )
