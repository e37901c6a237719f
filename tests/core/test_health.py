import json

import pytest
from django.urls import reverse


def test_healthz_answers_without_login_and_without_touching_services(client, settings):
    # No django_db mark: any database access would raise. Redis points at a closed port.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ready_when_database_and_redis_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_readyz_names_redis_when_it_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error: ")
    assert "ConnectionError" in body["checks"]["redis"]


@pytest.mark.django_db
def test_readyz_names_the_database_when_it_fails(client, monkeypatch):
    from django.db import OperationalError

    from apps.core import health

    def database_down():
        raise OperationalError("connection to server at 10.0.0.5 failed: secret detail")

    # Stands in for a database server that went away; the view's reporting is what is under test.
    monkeypatch.setitem(health.READINESS_CHECKS, "database", database_down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "error: OperationalError", "redis": "ok"}
    assert b"10.0.0.5" not in response.content


def test_probe_urls_are_named_and_never_redirect(client):
    assert reverse("core:healthz") == "/healthz"
    assert reverse("core:readyz") == "/readyz"
    assert client.post("/healthz").status_code == 405
