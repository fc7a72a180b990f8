"""The layout's rules (docs/architecture.md), checked on every `make test`."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

from config import PROJECT_ROOT

APPLICATION = (
    "app",
    "config",
    "i18n",
    "desk",
    "adapters",
    "terminal",
    "bot",
    "web",
    "services",
    "nlu",
)
MAX_LINES = 500


def test_no_import_crosses_a_forbidden_line() -> None:
    """The contracts in pyproject.toml ([tool.importlinter]): layers, the two environments,
    migrations that read the schema only. The report names each import that breaks one."""
    assert lint_imports(config_filename=str(PROJECT_ROOT / "pyproject.toml"), no_cache=True) == 0


def _modules() -> list[Path]:
    return sorted(p for package in APPLICATION for p in (PROJECT_ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_no_application_module_is_over_500_lines(path: Path) -> None:
    """A module that outgrows this holds more than one idea: split it by idea."""
    with path.open(encoding="utf-8") as handle:
        lines = sum(1 for _ in handle)
    assert lines <= MAX_LINES, f"{path.relative_to(PROJECT_ROOT)} has {lines} lines"
