"""Errors raised by the services layer.

ServiceError
 ├── IllegalTransition   a status change the lifecycle table forbids
 ├── TicketNotFound      no ticket with that number
 ├── UnknownCategory     no category with that code
 └── NotYourTicket       a resident acting on someone else's ticket
"""

from __future__ import annotations


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
    """No category has this code."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown category {code!r}")
        self.code = code


class NotYourTicket(ServiceError):
    """The resident does not own the ticket they are acting on."""

    def __init__(self, number: str) -> None:
        super().__init__(f"ticket {number} belongs to another resident")
        self.number = number
