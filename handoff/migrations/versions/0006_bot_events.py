"""bot events: Rasa's resume markers as a transactional outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'bot_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=36), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('bot_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bot_events_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bot_events_sent_at'), ['sent_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('bot_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bot_events_sent_at'))
        batch_op.drop_index(batch_op.f('ix_bot_events_conversation_id'))
    op.drop_table('bot_events')
