"""The lifecycle after filing: organisations' tokens, staff, chat links, offers,
followers, the notification outbox and the ticket milestones.

Revision ID: 0003_workflow
Revises: 0002_ticket_kind
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_workflow"
down_revision: str | None = "0002_ticket_kind"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
TICKET_MILESTONES = ("published_at", "claimed_at", "done_at", "closed_at", "escalated_at")


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(
            sa.Column("all_communities", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("language", sa.String(5), nullable=False, server_default="zh"))
        batch.create_unique_constraint("uq_organisations_token_hash", ["token_hash"])

    with op.batch_alter_table("tickets") as batch:
        for name in TICKET_MILESTONES:
            batch.add_column(sa.Column(name, TS, nullable=True))
        batch.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rating_comment", sa.Text(), nullable=True))
        batch.add_column(sa.Column("done_late", sa.Boolean(), nullable=True))
        batch.create_foreign_key(
            "fk_tickets_merged_into_id_tickets", "tickets", ["merged_into_id"], ["id"]
        )
        batch.create_index(
            "ix_tickets_category_code_community_id_status",
            ["category_code", "community_id", "status"],
        )

    with op.batch_alter_table("ticket_events") as batch:
        batch.add_column(
            sa.Column("action", sa.String(16), nullable=False, server_default="transition")
        )

    op.create_table(
        "ticket_followers",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_ticket_followers_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name="fk_ticket_followers_resident_id_residents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "resident_id", name="pk_ticket_followers"),
    )
    op.create_table(
        "ticket_offers",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_ticket_offers_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_ticket_offers_organisation_id_organisations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "organisation_id", name="pk_ticket_offers"),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("language", sa.String(5), nullable=False, server_default="zh"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_staff"),
        sa.UniqueConstraint("name", name="uq_staff_name"),
        sa.UniqueConstraint("token_hash", name="uq_staff_token_hash"),
    )
    op.create_table(
        "staff_communities",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name="fk_staff_communities_staff_id_staff",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name="fk_staff_communities_community_id_communities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("staff_id", "community_id", name="pk_staff_communities"),
    )
    op.create_table(
        "link_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_link_codes_organisation_id_organisations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name="fk_link_codes_staff_id_staff", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("code_hash", name="pk_link_codes"),
    )
    op.create_table(
        "chat_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_chat_links_organisation_id_organisations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name="fk_chat_links_staff_id_staff", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_chat_links"),
        sa.UniqueConstraint("channel", "chat_id", name="uq_chat_links_channel_chat_id"),
    )
    op.create_index("ix_chat_links_organisation_id", "chat_links", ["organisation_id"])
    op.create_index("ix_chat_links_staff_id", "chat_links", ["staff_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("message_key", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("buttons", sa.JSON(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("reply_kind", sa.String(32), nullable=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_message_id", sa.String(32), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_outbox_ticket_id_tickets", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_state_next_attempt_at", "outbox", ["state", "next_attempt_at"])
    op.create_index(
        "ix_outbox_channel_chat_id_sent_message_id",
        "outbox",
        ["channel", "chat_id", "sent_message_id"],
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("chat_links")
    op.drop_table("link_codes")
    op.drop_table("staff_communities")
    op.drop_table("staff")
    op.drop_table("ticket_offers")
    op.drop_table("ticket_followers")
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_column("action")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_category_code_community_id_status")
        batch.drop_constraint("fk_tickets_merged_into_id_tickets", type_="foreignkey")
        for name in (*TICKET_MILESTONES, "merged_into_id", "rating", "rating_comment", "done_late"):
            batch.drop_column(name)
    with op.batch_alter_table("organisations") as batch:
        batch.drop_constraint("uq_organisations_token_hash", type_="unique")
        for name in ("all_communities", "token_hash", "language"):
            batch.drop_column(name)
