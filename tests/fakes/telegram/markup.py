"""What Telegram checks in the text and markup the bot sends: HTML / MarkdownV2 /
Markdown entities (rendered to the text the user sees, or "can't parse entities") and
reply markup (inline keyboards, reply keyboards, remove_keyboard, force_reply)."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.fakes.telegram.protocol import ApiError, JSONDict, bad

_HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
_HTML_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "*": "Bold",
    "_": "Italic",
    "__": "Underline",
    "~": "Strikethrough",
    "||": "Spoiler",
    "[": "TextUrl",
}


def _render_html(text: str) -> str:
    """HTML parse mode: the text without its tags, entities unescaped."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0

    def fail(what: str) -> ApiError:
        return bad(f"can't parse entities: {what}")

    while pos < len(text):
        ch = text[pos]
        if ch == "<":
            offset = len(text[:pos].encode())
            end = text.find(">", pos)
            if end == -1:
                raise fail(f"Unclosed start tag at byte offset {offset}")
            inner = text[pos + 1 : end].strip()
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise fail(f"Unexpected end tag at byte offset {offset}")
                if stack[-1] != name:
                    raise fail(
                        f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", '
                        f'found "</{name}>"'
                    )
                stack.pop()
            else:
                name = re.split(r"[\s/]", inner, maxsplit=1)[0].lower()
                if name not in _HTML_TAGS:
                    raise fail(f'Unsupported start tag "{name}" at byte offset {offset}')
                if not inner.endswith("/"):
                    stack.append(name)
            pos = end + 1
        elif ch == "&" and (m := _HTML_ENTITY.match(text, pos)):
            out.append(html.unescape(m.group(0)))
            pos = m.end()
        else:
            out.append(ch)
            pos += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _render_markdown_v2(text: str) -> str:
    """MarkdownV2 parse mode: the text without its markup and escapes."""
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    i, n = 0, len(text)

    def fail(what: str) -> ApiError:
        return bad(f"can't parse entities: {what}")

    def offset(idx: int) -> int:
        return len(text[:idx].encode())

    def find_unescaped(sub: str, start: int) -> int:
        j = start
        while j < n:
            if text[j] == "\\":
                j += 2
                continue
            if text.startswith(sub, j):
                return j
            j += 1
        return -1

    def unescape(s: str) -> str:
        return re.sub(r"\\(.)", r"\1", s, flags=re.S)

    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise fail(f"Unexpected end of text at byte offset {offset(i)}")
            out.append(text[i + 1])
            i += 2
        elif text.startswith("```", i):
            end = find_unescaped("```", i + 3)
            if end == -1:
                raise fail(f"Can't find end of PreCode entity at byte offset {offset(i)}")
            block = text[i + 3 : end]
            first, nl, rest = block.partition("\n")
            if nl and first and " " not in first:
                block = rest
            out.append(unescape(block))
            i = end + 3
        elif c == "`":
            end = find_unescaped("`", i + 1)
            if end == -1:
                raise fail(f"Can't find end of Code entity at byte offset {offset(i)}")
            out.append(unescape(text[i + 1 : end]))
            i = end + 1
        elif text.startswith("||", i) or text.startswith("__", i) or c in "*_~":
            marker = text[i : i + 2] if text[i : i + 2] in ("||", "__") else c
            if stack and stack[-1][0] == marker:
                stack.pop()
            else:
                stack.append((marker, i))
            i += len(marker)
        elif c == "[":
            stack.append(("[", i))
            i += 1
        elif c == "]" and stack and stack[-1][0] == "[":
            stack.pop()
            if not text.startswith("(", i + 1):
                raise fail(f"Can't find end of TextUrl entity at byte offset {offset(i)}")
            end = find_unescaped(")", i + 2)
            if end == -1:
                raise fail(f"Can't find end of TextUrl entity at byte offset {offset(i)}")
            i = end + 1
        elif c == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1
        elif c in _MDV2_RESERVED:
            raise fail(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        else:
            out.append(c)
            i += 1
    if stack:
        marker, at = stack[-1]
        raise fail(f"Can't find end of {_MDV2_NAMES[marker]} entity at byte offset {offset(at)}")
    return "".join(out)


def _render_markdown(text: str) -> str:
    """Legacy Markdown parse mode: the text without its markup."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "*_`":
            end = text.find(c, i + 1)
            if end == -1:
                raise bad(
                    "can't parse entities: Can't find end of the entity starting at byte "
                    f"offset {len(text[:i].encode())}"
                )
            out.append(text[i + 1 : end])
            i = end + 1
        elif c == "[" and (m := re.compile(r"\[([^\]]*)\]\(([^)]*)\)").match(text, i)):
            out.append(m.group(1))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def render(text: str, parse_mode: Any) -> str:
    """The text as the user sees it under ``parse_mode``, or "can't parse entities"."""
    mode = str(parse_mode or "").lower()
    if mode == "html":
        return _render_html(text)
    if mode == "markdownv2":
        return _render_markdown_v2(text)
    if mode == "markdown":
        return _render_markdown(text)
    if mode:
        raise bad(f"unsupported parse_mode {parse_mode}")
    return text


def check_markup(markup: Any) -> JSONDict | None:
    """The reply markup as sent, after Telegram's checks (None: no markup)."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad(
                'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict):
                    raise bad("can't parse inline keyboard button: object expected")
                actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
                if not button.get("text") or not actions:
                    raise bad(
                        "can't parse inline keyboard button: Text buttons are unallowed in the "
                        "inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise bad("BUTTON_DATA_INVALID")
        return markup
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
        return markup
    if markup.get("remove_keyboard") or "force_reply" in markup:
        return markup
    raise bad("can't parse reply keyboard markup JSON object")
