"""serversecret: the key of every draw that decides gold; campaign.exclude_flagged

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 18:40:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401  (AutoString columns)


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: a one-row table (its row is written at the server's first start);
    existing campaigns keep flagged annotators (false), as before."""
    op.create_table('serversecret',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('value', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('campaign') as batch:
        batch.add_column(sa.Column('exclude_flagged', sa.Boolean(), server_default='0', nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('campaign') as batch:
        batch.drop_column('exclude_flagged')
    op.drop_table('serversecret')
