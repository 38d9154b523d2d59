"""An address's postal code is optional where its country has none (Hong Kong, Ireland's optional
Eircode): the column accepts NULL.

Revision ID: 0009_postal_code_optional
Revises: 0008_profiles_for_every_account
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009_postal_code_optional"
down_revision: str | None = "0008_profiles_for_every_account"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("addresses", "postal_code", existing_type=sa.String(20), nullable=True, schema="users")


def downgrade() -> None:
    # Addresses written without a postal code keep an empty one: NOT NULL holds again.
    op.execute("UPDATE users.addresses SET postal_code = '' WHERE postal_code IS NULL")
    op.alter_column("addresses", "postal_code", existing_type=sa.String(20), nullable=False, schema="users")
