"""Fixtures of the ERPNext tests: a connection to the emulator reached through `requests` (no live server).

`sandbox` answers every request the real client sends to BASE by handing it to the Django test client, so
the client's own session, read-only adapter and headers are exercised, the emulator runs in the test's
transaction, and `sandbox.requests` lists what left the client.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import responses
from django.contrib.auth.models import Permission, User
from django.test import Client

from apps.core import sync
from apps.core.models import Connection, SyncRun
from apps.erpnext.sandbox import state
from apps.erpnext.sandbox.state import SandboxSite
from apps.erpnext.sync import RESOURCES

BASE = "https://erp.example.test"
API_KEY, API_SECRET = "a1b2c3d4e5f6a7b", "f0e1d2c3b4a5968"
WEBHOOK_SECRET = "frappe-webhook-secret-0123456789"


def forward(request):
    """A requests.PreparedRequest answered by the Django test client (the emulator, or the webhook inbox)."""
    parts = urlsplit(request.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {key: value for key, value in request.headers.items()
               if key.lower() in ("authorization", "accept", "x-frappe-webhook-signature", "x-requested-with")}
    client = Client()
    if request.method == "GET":
        answer = client.get(path, headers=headers)
    else:
        answer = client.generic(request.method, path, data=request.body or b"",
                                content_type=request.headers.get("Content-Type", "application/json"),
                                headers=headers)
    return answer.status_code, {"Content-Type": answer.headers.get("Content-Type", "")}, answer.content


@pytest.fixture
def site(db, settings):
    settings.SANDBOX = True
    return SandboxSite.objects.create(name="ERP Test", api_key=API_KEY, api_secret=API_SECRET)


@pytest.fixture
def connection(db, settings):
    settings.PUBLIC_BASE_URL = BASE
    return Connection.objects.create(
        provider="erpnext", name="ERPNext", slug="erp", base_url=f"{BASE}/sandbox/erpnext",
        secrets={"api_key": API_KEY, "api_secret": API_SECRET}, webhook_secrets=[WEBHOOK_SECRET],
    )


@pytest.fixture
def sandbox(site, connection, monkeypatch):
    monkeypatch.setattr(state, "DELIVER_IN_BACKGROUND", False)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        pattern = re.compile(re.escape(BASE) + r"/.*")
        for method in (responses.GET, responses.POST, responses.PUT, responses.DELETE):
            mock.add_callback(method, pattern, callback=forward)
        yield SimpleNamespace(site=site, connection=connection, mock=mock,
                              requests=lambda: [call.request for call in mock.calls])


def run_sync(connection, resource: str, kind=SyncRun.Kind.INCREMENTAL) -> SyncRun:
    run, created = sync.start_sync(connection, resource, kind=kind)
    assert created
    sync.run_sync(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def sync_everything(connection, kind=SyncRun.Kind.INCREMENTAL) -> dict[str, SyncRun]:
    return {resource.name: run_sync(connection, resource.name, kind) for resource in RESOURCES}


@pytest.fixture
def staff(db):
    user = User.objects.create_user("comptable", password="pw-comptable-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_console", "view_company", "change_company", "manage_connections"]))
    return User.objects.get(pk=user.pk)
