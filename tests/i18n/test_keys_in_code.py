"""Every catalogue key the application and its templates name literally exists in the catalogue: a
sentence missing from it fails here, not as a KeyError in front of a resident."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import PROJECT_ROOT
from i18n import has_key

PACKAGES = ("app", "adapters", "bot", "desk", "i18n", "nlu", "services", "terminal", "web")
# Callables whose first argument is a catalogue key.
KEY_TAKERS = {"t", "has_key", "error_page"}


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def literal_keys() -> Iterator[tuple[str, str]]:
    """(where, key) for every call `t("key", ...)` and the like in the application."""
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or _called_name(node) not in KEY_TAKERS:
                    continue
                # error_page(request, status, key): the key is the last positional.
                arguments = node.args[-1:] if _called_name(node) == "error_page" else node.args[:1]
                for argument in arguments:
                    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                        where = f"{Path(path).relative_to(PROJECT_ROOT)}:{node.lineno}"
                        yield where, argument.value


# `t('key', ...)` in a Jinja template (not `t('prefix_' ~ name)`).
TEMPLATE_CALL = re.compile(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""")


def template_keys() -> Iterator[tuple[str, str]]:
    """(where, key) for every literal key the web templates translate."""
    for path in sorted((PROJECT_ROOT / "web" / "templates").rglob("*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in TEMPLATE_CALL.finditer(line):
                yield f"{path.relative_to(PROJECT_ROOT)}:{number}", match.group(1)


KEYS = sorted(set(literal_keys()) | set(template_keys()))


def test_the_scan_finds_the_keys() -> None:
    # The scan itself works: hundreds of literal keys in code and templates.
    assert len(KEYS) > 300
    assert any(where.startswith("desk/") for where, _ in KEYS)
    assert any(where.startswith("web/templates/") for where, _ in KEYS)


@pytest.mark.parametrize(("where", "key"), KEYS, ids=[f"{w}:{k}" for w, k in KEYS])
def test_every_literal_key_is_in_the_catalogue(where: str, key: str) -> None:
    assert has_key(key), f"{where} names {key!r}, which the catalogue does not have"
