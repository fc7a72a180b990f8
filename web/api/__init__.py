"""The JSON API of tickets for organisations and staff: `/api/tickets/{number}/...`;
and `/api/organisations` for staff choosing whom to assign a ticket to.

Every request is one database transaction; the notifier is woken after the commit
when the request changed the ticket. The resident's contact (phone, address,
coordinates) is in the answer only for staff and for the organisation holding
the ticket; any other organisation reads the resident's words masked, and a ticket
it may not know of is 404 as if there were none. See docs/api.md.
"""

from web.api.routes import organisations_router, router

__all__ = ["organisations_router", "router"]
