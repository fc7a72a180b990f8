"""Telegram front: turns updates into front-desk calls and replies into messages."""

import os

# Opt in to PTB 22's timedelta-valued durations now, so no deprecation path is taken.
os.environ.setdefault("PTB_TIMEDELTA", "true")
