"""apitoken.expires_at, apitoken.revoked_at: tokens can expire, be revoked and be rotated

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 18:50:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (UTCDateTime columns)


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: existing tokens never expire and are not revoked (both null)."""
    with op.batch_alter_table('apitoken') as batch:
        batch.add_column(sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('apitoken') as batch:
        batch.drop_column('revoked_at')
        batch.drop_column('expires_at')
