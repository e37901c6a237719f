"""Fixtures of the Invoice Ninja tests: a connection, vendor-shaped payloads, the sandbox on a live server."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User

from apps.core.models import Connection
from apps.hub.models import Company, Contact, Quote
from apps.invoiceninja import sandbox
from apps.invoiceninja.sandbox_state import SandboxAccount
from tests.workers import run_jobs

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "https://in.example.test"
API = f"{BASE}/api/v1"
WEBHOOK_SECRET = "whsec-console-0123456789abcdef"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def connection(db, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.test"
    return Connection.objects.create(
        provider="invoiceninja", name="Invoice Ninja", slug="in", base_url=BASE,
        secrets={"api_token": "tok-0123456789abcdef"}, webhook_secrets=[WEBHOOK_SECRET],
    )


@pytest.fixture
def no_pacing(monkeypatch):
    """The duplicate-guard pause records what it would wait instead of sleeping."""
    from apps.invoiceninja.client import InvoiceNinjaClient

    waits = []
    monkeypatch.setattr(InvoiceNinjaClient, "pause", staticmethod(waits.append))
    return waits


@pytest.fixture
def company(db):
    company = Company.objects.create(name="Atelier Lumière SARL", email="contact@atelier.example", city="Lyon")
    Contact.objects.create(company=company, first_name="Claire", last_name="Moreau",
                           email="claire@atelier.example", is_primary=True)
    return company


@pytest.fixture
def quote(company):
    quote = Quote.objects.create(company=company, title="Refonte du site")
    quote.lines.create(position=0, description="Maquettes", quantity=1, unit_price="1800.00")
    quote.lines.create(position=1, description="Intégration (par page)", quantity=8, unit_price="350.10")
    quote.recalculate_totals()
    return quote


@pytest.fixture
def staff(db):
    user = User.objects.create_user("vendeur", password="pw-vendeur-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        codename__in=["send_documents", "view_console", "view_quote", "change_quote", "view_invoice",
                      "change_invoice", "manage_connections"]))
    return User.objects.get(pk=user.pk)


def run_webhook_jobs():
    run_jobs("webhooks")


def run_default_jobs():
    run_jobs("default")


@pytest.fixture
def sandbox_deliveries_inline(monkeypatch):
    """Sandbox webhooks delivered in the request thread, right after commit: deterministic tests."""
    monkeypatch.setattr(sandbox, "DELIVER_IN_BACKGROUND", False)


@pytest.fixture
def sandbox_connection(live_server, settings, redis_connection, sandbox_deliveries_inline):
    """A connection to the sandbox served by the live server, whose webhooks come back to the same server."""
    settings.SANDBOX = True
    settings.PUBLIC_BASE_URL = live_server.url
    account = SandboxAccount.objects.create(name="Sandbox Test SARL", api_token=secrets.token_urlsafe(24))
    return Connection.objects.create(
        provider="invoiceninja", name="Invoice Ninja (sandbox)", slug="in-sandbox",
        base_url=f"{live_server.url}/sandbox/invoiceninja",
        secrets={"api_token": account.api_token}, webhook_secrets=[WEBHOOK_SECRET],
    )
