"""campaign.gold_carry: how much a requester's other campaigns' gold records count

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:05:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: existing campaigns carry nothing (0), as before."""
    with op.batch_alter_table('campaign') as batch:
        batch.add_column(sa.Column('gold_carry', sa.Float(), server_default='0', nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('campaign') as batch:
        batch.drop_column('gold_carry')
