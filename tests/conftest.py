"""Shared fixtures.

Services: DATABASE_URL / REDIS_URL from the environment when set (CI: the machine's PostgreSQL and
Redis); otherwise SQLite and a private redis-server started for the session. That setup happens in
config/settings.py (under pytest) because pytest-django reads settings before any conftest runs.
"""

import pytest


@pytest.fixture(autouse=True)
def _no_backoff_sleep(monkeypatch):
    """Outbound retries back off for real in production; tests must not wait."""
    from apps.core.http import ApiClient

    monkeypatch.setattr(ApiClient, "sleep", staticmethod(lambda seconds: None))


@pytest.fixture
def redis_connection(settings):
    import redis

    connection = redis.Redis.from_url(settings.REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()
