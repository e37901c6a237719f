"""Shared fixtures.

Services: DATABASE_URL / REDIS_URL from the environment when set (CI: the machine's PostgreSQL and
Redis); otherwise SQLite and a private redis-server started for the session. That setup happens in
config/settings.py (under pytest) because pytest-django reads settings before any conftest runs.
"""

import pytest


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Browser journeys last: their console, worker and scheduler processes live until the session ends and
    share the database and Redis, so no other test may run while they are up (a worker would take its jobs)."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """PBKDF2 is slow on purpose (a third of a second per user here) and the suite creates users by the
    hundred. The browser journeys' web process accepts these hashes too (tests/e2e/sandbox_settings.py)."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
        yield


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


@pytest.fixture(autouse=True)
def _force_login_passes_the_second_factor(monkeypatch):
    """`force_login` skips the password; it skips the second factor too (tests/second_factor.py)."""
    from django.test import Client

    from tests.second_factor import pass_second_factor

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        pass_second_factor(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)
