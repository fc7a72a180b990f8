"""The organisation an event made the holder, in its own column.

Who held a ticket before (an organisation that held a ticket may still read it) was
read from the event note, which staff can write into ("assigned to org:3: <note>");
now the claim, the staff assignment and the hand-over record the new holder in
ticket_events.organisation_id. The upgrade fills the column for the events already
logged, from the notes the workflow itself wrote (anchored at the start, so a staff
note after the colon never counts) and from organisations' own claims.

Revision ID: 0009_event_holder
Revises: 0008_ticket_media_url
Create Date: 2026-12-04
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_event_holder"
down_revision: str | None = "0008_ticket_media_url"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The notes services.workflow wrote: "assigned to org:3[: note]" and
# "from org:3 to org:5[: note]" (a hand-over), frozen here.
ASSIGNED = re.compile(r"assigned to org:(\d+)(?::|$)")
HANDED_OVER = re.compile(r"from org:\d+ to org:(\d+)(?::|$)")
CLAIM_ACTOR = re.compile(r"org:(\d+)$")

events = sa.table(
    "ticket_events",
    sa.column("id", sa.Integer()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("to_status", sa.String()),
    sa.column("note", sa.Text()),
    sa.column("organisation_id", sa.Integer()),
)
organisations = sa.table("organisations", sa.column("id", sa.Integer()))


def _holder(actor: str, action: str, to_status: str, note: str | None) -> int | None:
    if action == "transition" and to_status == "claimed":
        claimed_by = CLAIM_ACTOR.match(actor)
        if claimed_by:
            return int(claimed_by.group(1))
        assigned = ASSIGNED.match(note or "")
        return int(assigned.group(1)) if assigned else None
    if action == "reassigned":
        handed = HANDED_OVER.match(note or "")
        return int(handed.group(1)) if handed else None
    return None


def upgrade() -> None:
    with op.batch_alter_table("ticket_events") as batch:
        batch.add_column(sa.Column("organisation_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_ticket_events_organisation_id_organisations",
            "organisations",
            ["organisation_id"],
            ["id"],
        )
        batch.create_index("ix_ticket_events_organisation_id", ["organisation_id"])
    connection = op.get_bind()
    known = set(connection.scalars(sa.select(organisations.c.id)).all())
    rows = connection.execute(
        sa.select(
            events.c.id, events.c.actor, events.c.action, events.c.to_status, events.c.note
        ).where(
            sa.or_(
                sa.and_(events.c.action == "transition", events.c.to_status == "claimed"),
                events.c.action == "reassigned",
            )
        )
    )
    for row in rows.all():
        holder = _holder(row.actor, row.action, row.to_status, row.note)
        if holder is not None and holder in known:
            connection.execute(
                sa.update(events).where(events.c.id == row.id).values(organisation_id=holder)
            )


def downgrade() -> None:
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_index("ix_ticket_events_organisation_id")
        batch.drop_constraint("fk_ticket_events_organisation_id_organisations", type_="foreignkey")
        batch.drop_column("organisation_id")
