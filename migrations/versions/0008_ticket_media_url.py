"""An Open311 client's media URL in its own column, never parsed out of free text.

Until now the URL was appended to the description as a last line `[media_url] <url>` and
read back from any description, so a resident could set it by typing that line. The
upgrade moves the line the Open311 filing appended (the last line of an `open311`
ticket, when it holds an absolute http(s) URL with a host) into the column; every other
such line stays in the description as the resident's text. The downgrade puts the line
back.

Revision ID: 0008_ticket_media_url
Revises: 0007_outbox_ticket
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = "0008_ticket_media_url"
down_revision: str | None = "0007_outbox_ticket"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKER = "[media_url] "
MAX_URL = 500

tickets = sa.table(
    "tickets",
    sa.column("id", sa.Integer()),
    sa.column("channel", sa.String()),
    sa.column("description", sa.Text()),
    sa.column("media_url", sa.String()),
)


def _http_url(url: str) -> bool:
    # A frozen copy of services.api_clients.valid_media_url: a revision never imports app code.
    if not url or len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("media_url", sa.String(500), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(tickets.c.id, tickets.c.description).where(
            tickets.c.channel == "open311", tickets.c.description.contains(MARKER)
        )
    )
    for row in rows.all():
        text, _, last = row.description.rpartition("\n")
        if not last.startswith(MARKER) or not _http_url(last[len(MARKER) :]):
            continue
        connection.execute(
            sa.update(tickets)
            .where(tickets.c.id == row.id)
            .values(description=text.strip(), media_url=last[len(MARKER) :])
        )


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(tickets.c.id, tickets.c.description, tickets.c.media_url).where(
            tickets.c.media_url.is_not(None)
        )
    )
    for row in rows.all():
        connection.execute(
            sa.update(tickets)
            .where(tickets.c.id == row.id)
            .values(description=f"{row.description}\n{MARKER}{row.media_url}")
        )
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("media_url")
