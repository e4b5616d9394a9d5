"""round.failures, round.last_error: a clearing that raised is recorded, retried, then parked

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 18:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: existing rounds have never failed (0, no error)."""
    with op.batch_alter_table('round') as batch:
        batch.add_column(sa.Column('failures', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('last_error', sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('round') as batch:
        batch.drop_column('last_error')
        batch.drop_column('failures')
