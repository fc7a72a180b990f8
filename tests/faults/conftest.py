"""Fixtures for fault and abuse tests: real databases (SQLite and PostgreSQL) and
servers of the tests' own."""

from tests.conftest_db import *  # noqa: F403
