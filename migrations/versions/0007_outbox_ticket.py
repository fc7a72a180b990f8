"""An index on outbox.ticket_id: the retention purge looks up a ticket's messages, and
PostgreSQL and SQLite scan the outbox for it on every ticket deleted (ON DELETE SET NULL).

Revision ID: 0007_outbox_ticket
Revises: 0006_indexes
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_outbox_ticket"
down_revision: str | None = "0006_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_ticket_id", "outbox", ["ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_ticket_id", table_name="outbox")
