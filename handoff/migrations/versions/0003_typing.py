"""typing

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:40:44.041338
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resident_typing_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('official_typing_until', sa.DateTime(), nullable=True))

    


def downgrade() -> None:
    
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('official_typing_until')
        batch_op.drop_column('resident_typing_until')

    
