"""Button payloads, written and read here only: `<who>:<action>:<ticket number>[:<extra>]`.

The first letter says whose button it is: `o` an organisation's (claim, start, done,
release), `s` staff's (approve, reject, assign, close and the emergency steps), `r` a
resident's on a notification (rate, not fixed, follow), `t` a resident's in the chat
(cancel a ticket, keep it). Telegram allows 64 bytes of callback data; the longest
payload, `s:hand:RO-261122-0007:elder_care`, is 31.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """Every button press the desks act on; the value is the payload's head."""

    CLAIM = "o:claim"
    START = "o:start"
    DONE = "o:done"
    RELEASE = "o:rel"  # extra: the reason's code, once chosen
    APPROVE = "s:ok"
    REJECT = "s:rej"  # extra: the reason's code, once chosen
    ASSIGN = "s:asg"  # extra: the organisation's id, once chosen
    CLOSE = "s:close"
    ACKNOWLEDGE = "s:ack"
    CALLED_BACK = "s:cb"
    HELP_ARRIVED = "s:arr"
    RESOLVE = "s:res"
    HAND = "s:hand"  # extra: the category's code, once chosen
    RATE = "r:rate"  # extra: the stars, 1 to 5
    NOT_FIXED = "r:nf"
    CANCEL = "t:cancel"
    KEEP = "t:keep"

    @property
    def party(self) -> str:
        """`o`, `s`, `r` or `t`: whose button it is."""
        return self.value.partition(":")[0]

    @property
    def verb(self) -> str:
        """The action's word in the payload (`claim`, `rel`, `asg` …)."""
        return self.value.partition(":")[2]


# The parties whose presses the work desk answers (the front desk answers `t` and the
# language choice).
WORK_PARTIES = frozenset({"o", "s", "r"})
LANGUAGE = "lang"


@dataclass(frozen=True)
class Press:
    """A payload read back: what to do, to which ticket, with what choice."""

    action: Action
    number: str
    extra: str = ""


def encode(action: Action, number: str, extra: str | int | None = None) -> str:
    """A button's payload: (Action.RATE, "RO-261122-0007", 5) -> "r:rate:RO-261122-0007:5"."""
    head = f"{action.value}:{number}"
    return head if extra is None or extra == "" else f"{head}:{extra}"


def decode(data: str) -> Press | None:
    """The press a payload stands for, or None for data that is not one of ours."""
    party, _, rest = data.partition(":")
    verb, _, args = rest.partition(":")
    try:
        action = Action(f"{party}:{verb}")
    except ValueError:
        return None
    number, _, extra = args.partition(":")
    return Press(action, number, extra)


def party_of(data: str) -> str:
    """Whose button a payload is (`o`, `s`, `r`, `t`, `lang`), read before it is decoded."""
    return data.partition(":")[0]


def choose_language(code: str) -> str:
    """The payload of the button that switches the chat to a language (`lang:en`)."""
    return f"{LANGUAGE}:{code}"


def chosen_language(data: str) -> str | None:
    """The language a language button chooses, or None for another payload."""
    party, _, code = data.partition(":")
    return code if party == LANGUAGE else None
