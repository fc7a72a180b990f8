"""Ticket numbers (RO-261122-0007) never wrap on a phone (issue 12): every element of the
dashboard and organisation templates that shows one as text is `.number` or `.nowrap`,
which app.css keeps on one line; the web chat's ticket list keeps its numbers on one line
too. (tests/e2e/test_browser_dashboard.py measures the dashboard at 390 px.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from config import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "web" / "templates"
STATIC = PROJECT_ROOT / "web" / "static"
# A Jinja expression that prints a ticket number.
_NUMBER_EXPRESSION = re.compile(r"\{\{[^}]*\b(number|merged_into)\b[^}]*\}\}")
_KEEPS_ON_ONE_LINE = {"number", "nowrap"}
_VOID = {"br", "img", "input", "meta", "link", "hr", "col", "source", "wbr"}


class NumberFinder(HTMLParser):
    """The ticket numbers printed as text, and whether an element around them keeps
    them on one line."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[set[str]] = []
        self.found: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        classes = set((dict(attrs).get("class") or "").split())
        self.stack.append(classes)

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        for match in _NUMBER_EXPRESSION.finditer(data):
            kept = any(classes & _KEEPS_ON_ONE_LINE for classes in self.stack)
            self.found.append((match.group(0), kept))


def _numbers_in(template: Path) -> list[tuple[str, bool]]:
    finder = NumberFinder()
    text = template.read_text(encoding="utf-8")
    # The <title> is not on the page.
    finder.feed(re.sub(r"\{% block title %\}.*?\{% endblock %\}", "", text))
    return finder.found


PAGES = sorted([*TEMPLATES.glob("dashboard/*.html"), *TEMPLATES.glob("org/*.html")])


@pytest.mark.parametrize("template", PAGES, ids=lambda path: path.relative_to(TEMPLATES).as_posix())
def test_every_ticket_number_shown_keeps_on_one_line(template: Path) -> None:
    loose = [expression for expression, kept in _numbers_in(template) if not kept]
    assert loose == [], f"{template.name}: not .number/.nowrap: {loose}"


def test_the_pages_show_ticket_numbers_at_all() -> None:
    # Guards the test above against finding nothing.
    shown = {t.name for t in PAGES if _numbers_in(t)}
    assert {"_rows.html", "ticket.html", "settlement.html", "home.html"} <= shown


def _rule(css: str, selector: str) -> str:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css):
        if selector in (s.strip() for s in selectors.split(",")):
            return str(body)
    return ""


def test_the_stylesheets_keep_numbers_on_one_line() -> None:
    app = (STATIC / "app.css").read_text(encoding="utf-8")
    assert "white-space: nowrap" in _rule(app, ".number")
    assert "white-space: nowrap" in _rule(app, ".nowrap")
    chat = (STATIC / "chat.css").read_text(encoding="utf-8")
    # The chat's "my tickets" list (its number is the head's <strong>), and any
    # number the chat marks as one.
    assert "white-space: nowrap" in _rule(chat, ".ticket-head strong")
    assert "white-space: nowrap" in _rule(chat, ".number")
