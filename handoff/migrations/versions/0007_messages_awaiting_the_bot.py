"""messages awaiting the assistant: answered once Rasa answers again

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('awaiting_bot', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('bot_input', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('bot_tried_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_messages_awaiting_bot'), ['awaiting_bot'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_messages_awaiting_bot'))
        batch_op.drop_column('bot_tried_at')
        batch_op.drop_column('bot_input')
        batch_op.drop_column('awaiting_bot')
