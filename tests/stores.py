"""A fresh PostgreSQL database per test (`postgres_url`), dropped after it.

PostgreSQL must be reachable at 127.0.0.1:5432 as user postgres (.ci/run starts it), or
where BILLSIM_TEST_POSTGRES points: a test that needs it fails, never skips, without it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

ADMIN_URL = os.environ.get("BILLSIM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of an empty database of its own (`billsim_test_<random>`)."""
    name = f"billsim_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL} (.ci/run starts it): {error}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            # FORCE: a store the test left open must not keep its database alive.
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
