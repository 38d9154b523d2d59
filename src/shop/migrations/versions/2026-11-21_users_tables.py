"""users tables: profiles and addresses, one primary address per user and use.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `updated_at` is the database's: set on every UPDATE that changes something in the row.
TOUCH_FUNCTION = """
CREATE FUNCTION users.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := statement_timestamp();
    RETURN NEW;
END
$$
"""

TOUCHED_TABLES = ("profiles", "addresses")


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("preferred_language", sa.String(length=35), server_default="en", nullable=False),
        sa.Column("preferred_currency", sa.String(length=3), server_default="USD", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("statement_timestamp()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("statement_timestamp()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profiles")),
        schema="users",
    )
    op.create_table(
        "addresses",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("is_primary", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("company", sa.String(length=255), nullable=True),
        sa.Column("address_line_1", sa.String(length=255), nullable=False),
        sa.Column("address_line_2", sa.String(length=255), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("statement_timestamp()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("statement_timestamp()"),
            nullable=False,
        ),
        sa.CheckConstraint("country_code ~ '^[A-Z]{2}$'", name=op.f("ck_addresses_country_code")),
        sa.CheckConstraint("type in ('billing', 'shipping', 'both')", name=op.f("ck_addresses_type")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
        schema="users",
    )
    op.create_index(
        op.f("ix_users_addresses_user_id"), "addresses", ["user_id"], unique=False, schema="users"
    )
    # One primary address per user and use; a `both` address counts for each use.
    op.create_index(
        "uq_addresses_primary_billing",
        "addresses",
        ["user_id"],
        unique=True,
        schema="users",
        postgresql_where=sa.text("is_primary AND type IN ('billing', 'both')"),
    )
    op.create_index(
        "uq_addresses_primary_shipping",
        "addresses",
        ["user_id"],
        unique=True,
        schema="users",
        postgresql_where=sa.text("is_primary AND type IN ('shipping', 'both')"),
    )
    op.execute(TOUCH_FUNCTION)
    for table in TOUCHED_TABLES:
        op.execute(
            f"CREATE TRIGGER touch_{table}_updated_at BEFORE UPDATE ON users.{table} "
            "FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION users.touch_updated_at()"
        )


def downgrade() -> None:
    for table in TOUCHED_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS touch_{table}_updated_at ON users.{table}")
    op.execute("DROP FUNCTION IF EXISTS users.touch_updated_at()")
    op.drop_index("uq_addresses_primary_shipping", table_name="addresses", schema="users")
    op.drop_index("uq_addresses_primary_billing", table_name="addresses", schema="users")
    op.drop_index(op.f("ix_users_addresses_user_id"), table_name="addresses", schema="users")
    op.drop_table("addresses", schema="users")
    op.drop_table("profiles", schema="users")
