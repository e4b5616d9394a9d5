"""annotatorskill.trusted: whether the annotator was trusted at its last gold answer

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 12:50:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: existing records start untrusted, judged as before until their next gold answer."""
    with op.batch_alter_table('annotatorskill') as batch:
        batch.add_column(sa.Column('trusted', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('annotatorskill') as batch:
        batch.drop_column('trusted')
