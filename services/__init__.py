"""The domain of Resident Orders: tickets, lifecycle, reference data, storage."""

from __future__ import annotations

from services.alerts import AlertKind, record_alert
from services.db import make_engine, make_sessionmaker, prepare_database
from services.errors import (
    IllegalTransition,
    NotYourTicket,
    ServiceError,
    TicketNotFound,
    UnknownCategory,
)
from services.lifecycle import ALLOWED, TicketStatus, check_transition
from services.models import (
    Base,
    Category,
    Community,
    Organisation,
    Resident,
    Ticket,
    TicketEvent,
    TicketNumberSequence,
    UTCDateTime,
)
from services.reference import load_reference_data
from services.tickets import (
    Filed,
    NewTicket,
    get_or_create_resident,
    get_ticket,
    list_resident_tickets,
    next_ticket_number,
    set_resident_language,
    transition,
)
from services.workflow import file_ticket

__all__ = [
    "ALLOWED",
    "AlertKind",
    "Base",
    "Category",
    "Community",
    "Filed",
    "IllegalTransition",
    "NewTicket",
    "NotYourTicket",
    "Organisation",
    "Resident",
    "ServiceError",
    "Ticket",
    "TicketEvent",
    "TicketNotFound",
    "TicketNumberSequence",
    "TicketStatus",
    "UTCDateTime",
    "UnknownCategory",
    "check_transition",
    "file_ticket",
    "get_or_create_resident",
    "get_ticket",
    "list_resident_tickets",
    "load_reference_data",
    "make_engine",
    "make_sessionmaker",
    "next_ticket_number",
    "prepare_database",
    "record_alert",
    "set_resident_language",
    "transition",
]
