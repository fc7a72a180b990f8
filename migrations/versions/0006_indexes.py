"""Indexes for the staff queue, charts and Open311 lists at a million tickets.

Portable B-tree indexes (SQLite and PostgreSQL alike); PostgreSQL scans them
backwards for "newest first". See docs/dashboard.md and docs/performance.md.

Revision ID: 0006_indexes
Revises: 0005_beneficiary
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_indexes"
down_revision: str | None = "0005_beneficiary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES: dict[str, list[str]] = {
    # the default queue (not ended, newest first) and the status filter
    "ix_tickets_status_created_at_id": ["status", "created_at", "id"],
    # every status by date, date ranges, Open311's window (requested_datetime)
    "ix_tickets_created_at_id": ["created_at", "id"],
    # the community filter and staff of some communities
    "ix_tickets_community_id_created_at": ["community_id", "created_at"],
    # the organisation filter, standings and satisfaction
    "ix_tickets_organisation_id_status": ["organisation_id", "status"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "tickets", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="tickets")
