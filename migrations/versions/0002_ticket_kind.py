"""Tickets that are not service requests: emergencies and requests for a person.

Revision ID: 0002_ticket_kind
Revises: 0001_initial
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_ticket_kind"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a column's nullability in place.
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="service"))
        batch.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.alter_column("category_code", existing_type=sa.String(32), nullable=True)
        batch.create_index("ix_tickets_urgent_status", ["urgent", "status"])


def downgrade() -> None:
    op.execute(
        "DELETE FROM ticket_events WHERE ticket_id IN "
        "(SELECT id FROM tickets WHERE category_code IS NULL)"
    )
    op.execute("DELETE FROM tickets WHERE category_code IS NULL")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_urgent_status")
        batch.alter_column("category_code", existing_type=sa.String(32), nullable=False)
        batch.drop_column("urgent")
        batch.drop_column("kind")
