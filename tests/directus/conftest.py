"""Fixtures of the Directus tests: a connection for `responses` tests, and the sandbox on a live server."""

from __future__ import annotations

from types import SimpleNamespace

import django_rq
import pytest
import requests

from apps.core.models import Connection
from apps.core.webhooks.dispatch import dispatch_all
from apps.directus import schema, webhooks
from apps.directus.bootstrap import bootstrap
from apps.directus.client import DirectusClient
from apps.directus.sandbox import flows
from apps.directus.sandbox.state import SandboxDirectusProject, SandboxDirectusUser
from tests import workers

BASE = "https://directus.example.test"
WEBHOOK_SECRET = "whsec-directus-0123456789abcdef"
TOKEN = "static-token-0123456789abcdef"
ALL = ["create", "read", "update", "delete"]


@pytest.fixture
def connection(db, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.test"
    return Connection.objects.create(provider="directus", name="Directus", slug="directus", base_url=BASE,
                                     secrets={"token": TOKEN}, webhook_secrets=[WEBHOOK_SECRET])


def run_jobs(queue: str) -> None:
    workers.run_jobs(queue)


def settle(rounds: int = 6) -> int:
    """Run pushes and Flow deliveries until nothing is left to do; returns the rounds it took."""
    for round_number in range(1, rounds + 1):
        dispatch_all()  # Flow deliveries stored meanwhile, handed to the queue as the worker's dispatcher does
        queued = sum(django_rq.get_queue(name).count for name in ("sync", "webhooks"))
        if not queued:
            return round_number
        run_jobs("sync")
        run_jobs("webhooks")
    raise AssertionError(f"still busy after {rounds} rounds: the console and Directus keep writing to each other")


@pytest.fixture
def flow_inline(monkeypatch):
    """The sandbox's Flow runs in the request thread right after commit: deterministic tests."""
    monkeypatch.setattr(flows, "DELIVER_IN_BACKGROUND", False)


@pytest.fixture
def directus(live_server, settings, redis_connection, flow_inline):
    """A Directus project in the sandbox with the mirror's schema, a limited token, an admin and the Flow."""
    settings.SANDBOX = True
    settings.PUBLIC_BASE_URL = live_server.url
    project = SandboxDirectusProject.objects.create(name="Projet test", import_ip_deny_list="169.254.169.254")
    connection = Connection.objects.create(
        provider="directus", name="Directus (sandbox)", slug="directus-sandbox",
        base_url=f"{live_server.url}/sandbox/directus", webhook_secrets=[WEBHOOK_SECRET])
    names = [schema.collection_name(connection, key) for key in schema.COLLECTIONS]
    mirror_user = SandboxDirectusUser.objects.create(project=project, email="console@example.test",
                                                     permissions={name: ALL for name in names})
    admin = SandboxDirectusUser.objects.create(project=project, email="admin@example.test", is_admin=True)
    connection.secrets = {"token": mirror_user.token}
    connection.save()
    flow = webhooks.flow_settings(connection, names)
    project.flow_url = flow["url"]
    project.flow_headers = [{"header": flow["header_name"], "value": flow["header_value"]}]
    project.flow_env = {flow["env_variable"]: WEBHOOK_SECRET}
    project.flow_collections = names
    project.save()
    bootstrap(connection, DirectusClient(connection, token=admin.token))
    api = f"{live_server.url}/sandbox/directus"

    def as_admin(method, path, **kwargs):
        return requests.request(method, f"{api}/{path}", headers={"Authorization": f"Bearer {admin.token}"},
                                timeout=10, **kwargs)

    def item(key, item_id):
        answer = as_admin("GET", f"items/{schema.collection_name(connection, key)}/{item_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]

    return SimpleNamespace(connection=connection, project=project, admin=admin, mirror_user=mirror_user, api=api,
                           as_admin=as_admin, item=item,
                           name=lambda key: schema.collection_name(connection, key))
