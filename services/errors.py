"""Errors raised by the services layer.

ServiceError
 ├── IllegalTransition   a status change the lifecycle table forbids
 ├── TicketNotFound      no ticket with that number
 ├── UnknownCategory     no category with that code
 ├── NotYourTicket       a resident or organisation acting on someone else's ticket
 ├── NotEligible         an organisation that does not serve the ticket's category/community
 ├── AlreadyTaken        another organisation claimed the ticket first
 │    └── AlreadyHolds   staff assign a ticket to the organisation holding it
 ├── BadCredentials      an unknown, used or revoked token or link code
 └── NotFound            no organisation/staff member with that id or name
"""

from __future__ import annotations

from collections.abc import Sequence


class ServiceError(Exception):
    """Base of every error the services layer raises on purpose."""


class IllegalTransition(ServiceError):
    """The lifecycle does not allow moving from `current` to `new`."""

    def __init__(self, current: str, new: str) -> None:
        super().__init__(f"illegal transition {current} -> {new}")
        self.current = current
        self.new = new


class TicketNotFound(ServiceError):
    """No ticket has this number."""

    def __init__(self, number: str) -> None:
        super().__init__(f"ticket {number} not found")
        self.number = number


class UnknownCategory(ServiceError):
    """No category has this code; the message lists the codes there are (`known`)."""

    def __init__(self, code: str, known: Sequence[str] = ()) -> None:
        listed = f"; the category codes are: {', '.join(known)}" if known else ""
        super().__init__(f"unknown category {code[:64]!r}{listed}")
        self.code = code
        self.known = list(known)


class NotYourTicket(ServiceError):
    """The resident does not own the ticket they are acting on."""

    def __init__(self, number: str) -> None:
        super().__init__(f"ticket {number} belongs to another resident")
        self.number = number


class NotEligible(ServiceError):
    """The organisation is suspended or does not serve the ticket's category or community."""

    def __init__(self, number: str, organisation: str) -> None:
        super().__init__(f"{organisation} may not take ticket {number}")
        self.number = number
        self.organisation = organisation


class AlreadyTaken(IllegalTransition):
    """Another organisation holds the ticket (a lost claim race is this, not a crash)."""

    def __init__(self, current: str, new: str, holder: str | None) -> None:
        super().__init__(current, new)
        self.holder = holder


class AlreadyHolds(AlreadyTaken):
    """Staff assign a ticket to the organisation that already holds it."""


class BadCredentials(ServiceError):
    """A token or link code that is unknown, already used or belongs to a suspended party."""


class NotFound(ServiceError):
    """No organisation, staff member or category with that identifier."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class InvalidInput(ServiceError, ValueError):
    """A value a person gave is refused (a name, an amount, a period, stars, a password,
    a URL); the message says which rule it breaks. A ValueError too, so callers that
    validate with `except ValueError` keep working. Programming errors (a naive
    datetime, an unknown database backend, a malformed reference file) stay plain
    ValueErrors: no person can correct them."""
