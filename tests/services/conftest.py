"""Database fixtures for the services tests."""

from tests.conftest_db import *  # noqa: F403
