"""assignment.held: labels of work won on probation are held until the gold test ends

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 22:20:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: existing assignments were never held (false)."""
    with op.batch_alter_table('assignment') as batch:
        batch.add_column(sa.Column('held', sa.Boolean(), server_default='0', nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('assignment') as batch:
        batch.drop_column('held')
