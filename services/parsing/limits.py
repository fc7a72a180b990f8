"""How much of a message the finders of services.parsing read."""

from __future__ import annotations

MAX_SCAN = 2000  # phone numbers, addresses, times are looked for in the first characters only
