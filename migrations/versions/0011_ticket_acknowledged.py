"""Emergency and hand-off tickets are acknowledged by a staff member.

`tickets.acknowledged_at` / `acknowledged_by` (the staff member who first
acknowledged it: pressed "acknowledge", "called back", "help arrived", "resolved" or
handed it to an organisation); until then the ticket stays at the top of the staff
queue and the sweep alerts staff again every few minutes, `tickets.realerted_at`
being the last of those re-alerts (the sweep's compare-and-set, so two sweepers
re-alert once). Tickets filed before this revision start unacknowledged.

Revision ID: 0011_ticket_acknowledged
Revises: 0009_event_holder
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_ticket_acknowledged"
down_revision: str | None = "0009_event_holder"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("realerted_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_tickets_acknowledged_by_staff", "staff", ["acknowledged_by"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("fk_tickets_acknowledged_by_staff", type_="foreignkey")
        batch.drop_column("realerted_at")
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
