"""An emergency's or hand-off's conversation is kept beside its need.

`tickets.transcript` (JSON, nullable): the latest lines of the conversation that led
to a staff ticket, each `{"from": "resident" | "assistant", "text": ...}`. The need
(`description`) stays the resident's last request in their words; staff read the
transcript on the ticket's page. The retention purge masks it like the other free text.

Revision ID: 0012_ticket_transcript
Revises: 0011_ticket_acknowledged
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_ticket_transcript"
down_revision: str | None = "0011_ticket_acknowledged"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("transcript", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("transcript")
