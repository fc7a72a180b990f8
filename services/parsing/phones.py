"""Phone numbers as residents type them, read by phonenumbers; stored in E.164."""

from __future__ import annotations

import re

import phonenumbers

from services.parsing.limits import MAX_SCAN

# An extension after the number ("021-6234 5678 转 801", "ext. 801", "x801"): the
# number is the line staff call; E.164 holds no extension.
_EXTENSION = re.compile(r"\s*(?:转|分机|ext\.?|extension|x|#)\s*\d{1,6}\s*$", re.IGNORECASE)


def parse_phone(text: str, region: str = "CN") -> str | None:
    """The number in E.164 form if `text` is a valid phone number, else None."""
    candidate = _EXTENSION.sub("", text.strip())
    if not candidate or len(candidate) > 40:
        return None
    digits = re.sub(r"[\s\-()（）.]", "", candidate)
    if digits.isdigit() and digits.startswith("86") and len(digits) == 13:
        digits = "+" + digits  # Telegram shares numbers without the plus sign
    try:
        number = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(phone: str | None, region: str = "CN") -> str | None:
    """A stored number (E.164) as people write it: "+8613812345678" as "138 1234 5678",
    a landline as "021 6234 5678" (a foreign number in its international form); a
    value that is no valid number is shown as stored, None stays None."""
    if not phone:
        return phone
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return phone
    if not phonenumbers.is_valid_number(number):
        return phone
    home = phonenumbers.region_code_for_number(number) == region
    style = phonenumbers.PhoneNumberFormat
    return phonenumbers.format_number(number, style.NATIONAL if home else style.INTERNATIONAL)


def find_phone(text: str, region: str = "CN") -> str | None:
    """The first valid phone number mentioned in free text, in E.164 form."""
    for match in phonenumbers.PhoneNumberMatcher(text[:MAX_SCAN], region):
        return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None
