"""Parsers for what residents type: phone numbers, preferred times, addresses, who a
request is for, and the language a message is written in.

A resident often writes everything at once: "我妈家厨房漏水，地址幸福小区3栋501，明天下午
来". The finders here read the address, the time and who the service is for in such a
message, so the form does not ask again (the summary shows them; any can be changed there).
"""

from services.parsing.addresses import find_address
from services.parsing.beneficiaries import find_beneficiary
from services.parsing.language import clearly_in, resolve_language, script_language
from services.parsing.phones import display_phone, find_phone, parse_phone
from services.parsing.times import (
    MAX_TIME_TEXT,
    SMALL_HOURS_END,
    TimeWindow,
    find_time_text,
    parse_preferred_time,
)

__all__ = [
    "MAX_TIME_TEXT",
    "SMALL_HOURS_END",
    "TimeWindow",
    "clearly_in",
    "display_phone",
    "find_address",
    "find_beneficiary",
    "find_phone",
    "find_time_text",
    "parse_phone",
    "parse_preferred_time",
    "resolve_language",
    "script_language",
]
