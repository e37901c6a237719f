"""Fixtures of the Mautic tests.

Two ways to stand in for Mautic:
- `responses` with vendor-shaped payloads for one behaviour of the client (`api` fixture);
- the emulator itself reached in-process (`mautic` fixture): every outbound request to http://testserver
  goes through Django's test client, so the console's client, the sandbox and the webhook inbox talk HTTP
  to each other without a server. Every request the console sends is kept in SENT for the contract test.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import responses
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from apps.core.models import Connection
from apps.hub.models import Company, Contact, Invoice
from apps.mautic.sandbox import delivery, records
from apps.mautic.webhook_registration import register_webhook
from tests import workers

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts" / "mautic"
EMULATOR = "http://testserver/sandbox/mautic"
SENT: list[tuple[str, str]] = []
OUTAGES: dict[str, int | str] = {}


def _forward_to_django(request):
    parts = urlsplit(request.url)
    SENT.append((request.method, parts.path))
    for prefix, outage in OUTAGES.items():
        if parts.path.startswith(prefix):
            if outage == "no answer":
                raise requests.ConnectTimeout(f"{request.url} did not answer")
            if outage == "read timeout":  # reached the server, which never answered (nor acted)
                raise requests.ReadTimeout(f"{request.url} read timeout")
            if outage == "acted, answer lost":  # the server acted; its answer never came back
                _forward(request)
                raise requests.ReadTimeout(f"{request.url} read timeout")
            return outage, {"Retry-After": "0"}, b'{"errors":[{"code":503,"message":"Service Unavailable"}]}'
    return _forward(request)


def _forward(request):
    parts = urlsplit(request.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = {name: value for name, value in request.headers.items()
               if name.lower() not in ("content-length", "host", "content-type")}
    response = Client().generic(request.method, path, data=body,
                                content_type=request.headers.get("Content-Type", ""), headers=headers)
    return response.status_code, dict(response.items()), response.content


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(autouse=True)
def _isolated_redis(redis_connection):
    yield redis_connection


@pytest.fixture
def wire(settings, api, monkeypatch):
    """Outbound HTTP to http://testserver reaches this process's views (emulator and webhook inbox)."""
    settings.SANDBOX = True
    settings.PUBLIC_BASE_URL = "http://testserver"
    monkeypatch.setattr(delivery, "DELIVER_IN_BACKGROUND", False)
    for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
        api.add_callback(method, re.compile(r"^http://testserver/.*"), callback=_forward_to_django)
    SENT.clear()
    OUTAGES.clear()
    yield api
    OUTAGES.clear()


@pytest.fixture
def instance(db):
    inst = records.instance()
    records.ensure_emails(inst)
    return inst


@pytest.fixture
def client_company(db):
    company = Company.objects.create(name="Boulangerie Martin", email="bonjour@boulangerie.example")
    Contact.objects.create(company=company, first_name="Paul", last_name="Martin", email="Paul@Boulangerie.example",
                           is_primary=True)
    return company


@pytest.fixture
def overdue(client_company):
    invoice = Invoice.objects.create(company=client_company, number="FAC-2026-0042", status=Invoice.Status.SENT,
                                     issue_date=timezone.localdate() - timedelta(days=35),
                                     due_date=timezone.localdate() - timedelta(days=5))
    invoice.lines.create(position=0, description="Buffet", quantity=1, unit_price=Decimal("640.00"))
    invoice.recalculate_totals()
    return invoice


def make_connection(base_url=EMULATOR, **overrides) -> Connection:
    inst = records.instance()
    emails = records.ensure_emails(inst)
    fields = {"provider": "mautic", "name": "Mautic", "slug": f"mautic-{Connection.objects.count()}",
              "base_url": base_url, "secrets": {"username": inst.username, "password": inst.password},
              "webhook_secrets": ["whsec-mautic-0123456789"],
              "config": {"reminder_emails": {str(level): e.pk for level, e in zip((1, 2, 3), emails)}}}
    fields.update(overrides)
    return Connection.objects.create(**fields)


@pytest.fixture
def connection(wire, instance, django_capture_on_commit_callbacks):
    connection = make_connection()
    with django_capture_on_commit_callbacks(execute=True):
        register_webhook(connection)
    connection.refresh_from_db()
    return connection


@pytest.fixture
def accountant(db):
    user = User.objects.create_user("comptable", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        codename__in=["send_emails", "view_console", "view_invoice", "change_invoice", "view_company",
                      "change_company", "manage_connections"]))
    return User.objects.get(pk=user.pk)


def run_jobs(*queues):
    for queue in queues or ("webhooks", "default"):
        workers.run_jobs(queue)
