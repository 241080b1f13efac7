"""answer feedback and English titles

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'answer_feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=36), nullable=False),
        sa.Column('answer', sa.String(length=130), nullable=False),
        sa.Column('topic', sa.String(length=64), nullable=False),
        sa.Column('helped', sa.Boolean(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('answer_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_feedback_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_answer_feedback_topic'), ['topic'], unique=False)
    with op.batch_alter_table('officials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title_en', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('officials', schema=None) as batch_op:
        batch_op.drop_column('title_en')
    with op.batch_alter_table('answer_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_answer_feedback_topic'))
        batch_op.drop_index(batch_op.f('ix_answer_feedback_conversation_id'))
    op.drop_table('answer_feedback')
