"""Resident Orders: the application package (settings, CLI, supervisor, message catalogue)."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
