"""Which of a resident's tickets their words name ("上午那个修水管的", "the cleaning one
from yesterday"), how each is shown as a choice ("维修 · 厨房水管漏水 · 今天 09:12"),
and the cues of a rating or a "not fixed" said in words."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from desk.render import category_name
from i18n import t
from services.emergency import EMERGENCY, HANDOFF
from services.models import Category, Ticket
from services.numbers import typed_number

NEED_CHARS = 14
MIN_CATEGORY_CONFIDENCE = 0.02
# The words of each category, learnt from the NLU training data (nlu/data): a term is a
# cue of a category when it appears in at least CUE_MIN_COUNT examples, CUE_PURITY of
# them that category's (so 取消 or 不用, which every act uses, are no cue).
TRAINING_DATA = Path(__file__).resolve().parents[1] / "data"
CUE_MIN_COUNT = 2
CUE_PURITY = 0.6
CUE_MAX_INTENTS = 4
MAX_CUE_SCORE = 3.0
CLEAR_MARGIN = 0.65  # how far the named ticket must score above zero and the next one
_ABOUT_TICKETS = frozenset(
    {"cancel_request", "check_status", "rate", "not_fixed", "join_ticket", "emergency"}
)
_ANNOTATION = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")
MAX_TEXT_CHARS = 500
_WORD = re.compile(r"[a-z]{3,}")
_HAN = re.compile(r"[\u4e00-\u9fff]+")
# Characters and words that say nothing about which ticket is meant.
_STOP_CHARS = frozenset("的了吗呢吧啊呀那个这我你他她们是不要用来就把给请帮")
# Function characters: a pair with one of them is no word of a service (么时, 不弄).
_FUNCTION_CHARS = frozenset(_STOP_CHARS | set("么什怎时候有没都也还再又很太吗嘛哦呢啦"))
_STOP_WORDS = frozenset(
    "the and that this for with from you your not don't dont need anymore please cancel "
    "one ticket request come coming again does doesn didn isn aren wasn won can could "
    "would will what when where who why how there here have has had someone anyone any "
    "just still some more yet".split()
)
# Day parts as residents say them: (words, first hour, last hour), local time.
_DAY_PARTS: tuple[tuple[tuple[str, ...], int, int], ...] = (
    (("早上", "早晨", "清早", "morning"), 5, 11),
    (("上午",), 6, 11),
    (("中午", "noon", "lunch"), 11, 13),
    (("下午", "afternoon"), 12, 17),
    (("晚上", "傍晚", "夜里", "evening", "night", "tonight"), 17, 23),
)
_DAYS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("今天", "今早", "今晚", "today", "this morning", "this afternoon", "tonight"), 0),
    (("昨天", "昨晚", "yesterday", "last night"), 1),
    (("前天", "day before yesterday"), 2),
)
# Stars said in words: 五星 / 5 星 / 五颗星 / 5分 / five stars / 5/5.
_ZH_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_EN_DIGITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_STARS = re.compile(r"([1-5一二两三四五])\s*(?:颗|个)?\s*(?:星|★|分(?!钟))")
_EN_STARS = re.compile(r"\b([1-5]|one|two|three|four|five)\s*(?:-|\s)?stars?\b|\b([1-5])\s*/\s*5\b")
_PRAISE = ("好评", "满分", "五星", "非常满意", "很满意", "excellent", "perfect", "full marks")
_BLAME = ("差评", "很不满意", "太差", "terrible", "awful")
_RATING_WORDS = ("评价", "打分", "评分", "好评", "差评", "星", "rate", "rating", "stars", "review")
# "Not fixed": the problem is back or was never solved.
_NOT_FIXED = re.compile(
    r"没(?:有)?(?:修|弄|搞|处理|解决)好|没(?:有)?解决|(?:又|还是|还在|仍然|依然|照样)"
    r"(?:坏|堵|漏|不通|不亮|不行|不好|没好|有问题|响|吵)|修了(?:也)?没用|跟没修一样|还没好"
    r"|\bnot (?:fixed|solved|resolved|working)\b|\bstill (?:broken|leak|block|not|drip|doesn)"
    r"|\b(?:broke|broken|leak(?:ing|s)?|blocked) again\b|\bdidn'?t (?:fix|work|solve)",
    re.IGNORECASE,
)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def ticket_choice(
    ticket: Ticket,
    categories: Mapping[str, Category],
    language: str,
    timezone: str,
    now: datetime,
) -> str:
    """A ticket as a choice: "维修 · 厨房水管漏水 · 今天 09:12"."""
    zone = ZoneInfo(timezone)
    created = _aware(ticket.created_at).astimezone(zone)
    today = _aware(now).astimezone(zone).date()
    clock = created.strftime("%H:%M")
    if created.date() == today:
        when = t("choice_today", language, time=clock)
    elif created.date() == today - timedelta(days=1):
        when = t("choice_yesterday", language, time=clock)
    else:
        when = created.strftime("%m-%d %H:%M")
    category = (
        category_name(categories, ticket.category_code, language)
        if ticket.category_code
        else t(f"kind_{ticket.kind}", language)
    )
    need = " ".join((ticket.description or "").split())
    limit = NEED_CHARS if _HAN.search(need) else NEED_CHARS * 2
    if len(need) > limit:
        need = need[: limit - 1] + "…"
    return t("ticket_choice", language, category=category, need=need or "-", when=when)


def _terms(text: str) -> set[str]:
    """Han character pairs and single meaningful Han characters, and English words."""
    lowered = text.lower()
    terms: set[str] = set()
    for run in _HAN.findall(lowered):
        chars = [char for char in run if char not in _STOP_CHARS]
        terms.update(chars)
        terms.update(run[i : i + 2] for i in range(len(run) - 1))
    terms.update(word for word in _WORD.findall(lowered) if word not in _STOP_WORDS)
    return terms


def _bigrams_and_words(text: str) -> set[str]:
    lowered = text.lower()
    terms: set[str] = set()
    for run in _HAN.findall(lowered):
        pairs = (run[i : i + 2] for i in range(len(run) - 1))
        terms.update(pair for pair in pairs if not _FUNCTION_CHARS.intersection(pair))
    terms.update(word for word in _WORD.findall(lowered) if word not in _STOP_WORDS)
    return terms


@cache
def category_cues(codes: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """term → {category: purity} for the terms that mark a category in the training
    examples (Han character pairs, English words)."""
    per_term: dict[str, Counter[str]] = defaultdict(Counter)
    for path in sorted(TRAINING_DATA.glob("*.yml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        for block in document.get("nlu") or []:
            intent = block.get("intent") if isinstance(block, dict) else None
            examples = block.get("examples") if isinstance(block, dict) else None
            if not intent or not isinstance(examples, str):
                continue
            for line in examples.splitlines():
                example = _ANNOTATION.sub(lambda m: m.group(1) or m.group(2) or "", line)
                for term in _bigrams_and_words(example.strip().removeprefix("- ")):
                    per_term[term][str(intent)] += 1
    cues: dict[str, dict[str, float]] = {}
    for term, counts in per_term.items():
        in_categories = sum(counts[code] for code in codes)
        # Acts about a ticket name services too ("修水管的那个取消吧"), and emergencies
        # the same things (电梯): they neither make nor spoil a cue; any other intent's
        # use of a term does spoil it (取消, 谢谢).
        elsewhere = sum(
            count
            for intent, count in counts.items()
            if intent not in codes and intent not in _ABOUT_TICKETS
        )
        about = sum(count for intent, count in counts.items() if intent in _ABOUT_TICKETS)
        spread = sum(1 for intent in counts if intent not in _ABOUT_TICKETS and counts[intent] > 0)
        if (
            spread > CUE_MAX_INTENTS  # a common word (有人, 什么时候, doesn't)
            or in_categories < CUE_MIN_COUNT
            or elsewhere > in_categories * (1 - CUE_PURITY)
            or about > in_categories  # the act's own words (接单了吗)
        ):
            continue
        marked = {
            code: counts[code] / in_categories
            for code in codes
            if counts[code] / in_categories >= CUE_PURITY
        }
        if marked:
            cues[term] = marked
    return cues


def cue_scores(text: str, codes: tuple[str, ...]) -> dict[str, float]:
    """How strongly the words mark each category ("修水管" → repair, "保洁" →
    housekeeping), from the training data's terms."""
    cues = category_cues(codes)
    scores: dict[str, float] = defaultdict(float)
    for term in _bigrams_and_words(text[:MAX_TEXT_CHARS]):
        for code, purity in cues.get(term, {}).items():
            scores[code] += purity
    return {code: min(MAX_CUE_SCORE, score) for code, score in scores.items()}


def _category_scores(
    text: str, ranking: Sequence[Mapping[str, Any]], categories: Mapping[str, Category]
) -> dict[str, float]:
    """How strongly the words name each category: its name in the text, or the
    classifier's confidence in it (the engine's ranking of the message)."""
    scores: dict[str, float] = dict(cue_scores(text, tuple(sorted(categories))))
    lowered = text.lower()
    for code, category in categories.items():
        if category.name_zh in text or category.name_en.lower() in lowered:
            scores[code] = scores.get(code, 0.0) + 3.0
    confidences = {
        str(item.get("name")): float(item.get("confidence") or 0.0)
        for item in ranking
        if str(item.get("name")) in categories
    }
    total = sum(value for value in confidences.values() if value >= MIN_CATEGORY_CONFIDENCE)
    for code, confidence in confidences.items():
        if confidence < MIN_CATEGORY_CONFIDENCE:
            continue
        # Its confidence, and its share among the categories the classifier saw (the
        # act, e.g. the cancel, takes most of the mass).
        scores[code] = scores.get(code, 0.0) + 4.0 * confidence + 2.0 * confidence / total
    return scores


def _time_score(text: str, ticket: Ticket, timezone: str, now: datetime) -> float:
    lowered = text.lower()
    zone = ZoneInfo(timezone)
    created = _aware(ticket.created_at).astimezone(zone)
    today = _aware(now).astimezone(zone).date()
    score = 0.0
    for words, first, last in _DAY_PARTS:
        if any(word in lowered for word in words):
            score += 1.5 if first <= created.hour <= last else -1.0
    for words, back in _DAYS:
        if any(word in lowered for word in words):
            score += 1.5 if created.date() == today - timedelta(days=back) else -1.0
    return score


def named_ticket_number(text: str) -> str | None:
    """A ticket number typed in the text (RO-261122-0007), normalised."""
    return typed_number(text)


def rank_named(
    text: str,
    ranking: Sequence[Mapping[str, Any]],
    tickets: Sequence[Ticket],
    categories: Mapping[str, Category],
    timezone: str,
    now: datetime,
) -> list[tuple[float, Ticket]]:
    """The tickets with how well the words name each, best first. Emergency and
    hand-off tickets come after the service tickets unless the words name them."""
    text = (text or "")[:MAX_TEXT_CHARS]
    number = named_ticket_number(text)
    words = _terms(text)
    by_category = _category_scores(text, ranking, categories)
    scored: list[tuple[float, int, Ticket]] = []
    for position, ticket in enumerate(tickets):
        if number is not None and ticket.number == number:
            scored.append((100.0, position, ticket))
            continue
        score = by_category.get(ticket.category_code or "", 0.0)
        overlap = words & _terms(ticket.description or "")
        score += min(4.0, sum(1.0 if len(term) > 1 else 0.4 for term in overlap))
        score += _time_score(text, ticket, timezone, now)
        if ticket.kind in (EMERGENCY, HANDOFF):
            named = (
                t(f"kind_{ticket.kind}", "zh") in text
                or t(f"kind_{ticket.kind}", "en").lower() in text.lower()
            )
            score = score + 3.0 if named else min(score, 0.0) - 5.0
        scored.append((score, position, ticket))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [(score, ticket) for score, _, ticket in scored]


def pick_named(ranked: Sequence[tuple[float, Ticket]]) -> Ticket | None:
    """The one ticket the words clearly name: it scores above zero and clearly above
    the next; None when the words leave the choice open."""
    if not ranked or ranked[0][0] < CLEAR_MARGIN:
        return None
    if len(ranked) == 1:
        return ranked[0][1]
    best, runner_up = ranked[0][0], ranked[1][0]
    return ranked[0][1] if best - runner_up >= CLEAR_MARGIN else None


def stars_in(text: str) -> int | None:
    """The stars a rating in words gives (五星好评 → 5, "3 stars" → 3, 差评 → 1)."""
    text = (text or "")[:MAX_TEXT_CHARS]
    found = _STARS.search(text)
    if found is not None:
        value = found.group(1)
        return int(value) if value.isdigit() else _ZH_DIGITS[value]
    english = _EN_STARS.search(text.lower())
    if english is not None:
        value = english.group(1) or english.group(2)
        return int(value) if value.isdigit() else _EN_DIGITS[value]
    lowered = text.lower()
    if any(word in lowered for word in _BLAME):
        return 1
    if any(word in lowered for word in _PRAISE):
        return 5
    return None


def sounds_like_rating(text: str) -> bool:
    """The words rate a service (stars, 好评/差评, "rate it")."""
    lowered = (text or "")[:MAX_TEXT_CHARS].lower()
    return stars_in(lowered) is not None or any(word in lowered for word in _RATING_WORDS)


def sounds_not_fixed(text: str) -> bool:
    """The words say a finished job did not solve the problem (没修好, "still leaking")."""
    return _NOT_FIXED.search((text or "")[:MAX_TEXT_CHARS]) is not None
