"""profiles for every account: an account made before the registration event existed gets its profile

Revision ID: 0008_profiles_for_every_account
Revises: 0007_signing_keys
Create Date: 2026-12-05 23:59:00.000000+00:00

Every new account gets its profile in its registration transaction; this gives the older ones theirs
(the column defaults: language `en`, currency USD), so reading a profile never has to create one.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008_profiles_for_every_account"
down_revision: str | None = "0007_signing_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO users.profiles (user_id) SELECT id FROM auth.users ON CONFLICT (user_id) DO NOTHING"
    )


def downgrade() -> None:
    # The profiles stay: they are the users' data, and the previous revision expects them too.
    pass
