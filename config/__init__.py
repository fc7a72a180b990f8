"""Configuration: the project root and the settings every process reads from its environment."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
