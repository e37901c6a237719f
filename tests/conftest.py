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
