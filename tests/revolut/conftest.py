"""Fixtures for the Revolut app.

Two ways to stand in for Revolut:
- `responses` with vendor-shaped payloads, for unit tests of one behaviour (`revolut`, `api` fixtures);
- the emulator itself (apps/revolut/sandbox.py) reached in-process: `bank` routes every outbound
  request to http://testserver through Django's test client, so the console's client, the sandbox and
  the webhook inbox talk HTTP to each other without a server.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests
import responses
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from apps.core.models import Connection
from apps.hub.models import Company, SupplierBill
from apps.revolut import oauth, sandbox_state
from apps.revolut.models import RevolutAccount, RevolutCounterparty

API = "https://sandbox-b2b.revolut.com/api/1.0"
API_V2 = "https://sandbox-b2b.revolut.com/api/2.0"
EMULATOR = "http://testserver/sandbox/revolut"
SUPPLIER_IBAN = "FR7630006000011234567890189"
EUR_ACCOUNT_ID = "af98333c-ea53-482b-93c2-1fa5e4eae671"
COUNTERPARTY_ID = "49c6a48b-6b58-40a0-b974-0b6c39b5c2a1"
COUNTERPARTY_ACCOUNT_ID = "05e3a8f4-6bd7-4b2b-9f2c-0dd8a0f8a2a2"


@functools.lru_cache(maxsize=1)
def private_key_pem() -> str:
    return oauth.generate_private_key_pem()


@pytest.fixture(autouse=True)
def _isolated_redis(redis_connection):
    """Rate-limit windows, token locks and the sandbox's counters start empty in every test."""
    yield redis_connection


def user_with(username, *codenames, staff=True) -> User:
    user = User.objects.create_user(username=username, password="x", is_staff=staff)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="core", codename=codename))
    return User.objects.get(pk=user.pk)  # fresh permission cache


def make_connection(base_url: str, **overrides) -> Connection:
    connection = Connection.objects.create(
        provider="revolut", name="Revolut Business", slug=f"revolut-{Connection.objects.count()}",
        base_url=base_url, token_status=Connection.TokenStatus.MISSING,
    )
    oauth.install_key(connection, private_key_pem())
    connection.config = {**connection.config, "client_id": "client-id-123"}
    connection.oauth_token = {"access_token": "oa_sand_current", "refresh_token": "oa_sand_refresh",
                              "token_type": "bearer"}
    connection.token_expires_at = timezone.now() + timedelta(minutes=30)
    connection.token_status = Connection.TokenStatus.OK
    connection.webhook_secrets = ["wsk_test_secret_0123456789"]
    for field, value in overrides.items():
        setattr(connection, field, value)
    connection.save()
    return connection


@pytest.fixture
def revolut(db):
    """A consented connection to the (mocked) Revolut sandbox host."""
    return make_connection("https://sandbox-b2b.revolut.com/api/1.0")


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def supplier(db):
    return Company.objects.create(name="Imprimerie du Centre", is_client=False, is_supplier=True,
                                  iban="FR76 3000 6000 0112 3456 7890 189", bic="AGRIFRPP", city="Orléans",
                                  postal_code="45000", address1="8 boulevard de la République")


@pytest.fixture
def mirrors(revolut, supplier):
    """The EUR account and the supplier's counterparty as a sync would have stored them."""
    account = RevolutAccount.objects.create(connection=revolut, external_id=EUR_ACCOUNT_ID, name="Principal",
                                            currency="EUR", balance=Decimal("10000.00"), state="active",
                                            seen_at=timezone.now())
    counterparty = RevolutCounterparty.objects.create(
        connection=revolut, external_id=COUNTERPARTY_ID, name=supplier.name, company=supplier,
        payment_account_id=COUNTERPARTY_ACCOUNT_ID, iban=SUPPLIER_IBAN, currency="EUR",
    )
    return account, counterparty


@pytest.fixture
def bill(supplier):
    return SupplierBill.objects.create(supplier=supplier, reference="IMP-2026-0412", amount=Decimal("480.00"),
                                       description="Flyers")


@pytest.fixture
def big_bill(supplier, settings):
    settings.PAYMENT_APPROVAL_THRESHOLD = Decimal("1000.00")
    return SupplierBill.objects.create(supplier=supplier, reference="IMP-2026-0415", amount=Decimal("2400.00"),
                                       description="Catalogue")


# The emulator, in-process --------------------------------------------------------------------------------------
# Paths of this process that are "down" while listed here: 503, or no answer at all ("no answer").
OUTAGES: dict[str, int | str] = {}


def _forward_to_django(request):
    parts = urlsplit(request.url)
    outage = OUTAGES.get(parts.path)
    if outage == "no answer":
        raise requests.ConnectTimeout(f"{request.url} did not answer")
    if outage:
        return outage, {"Retry-After": "60"}, b"Service Unavailable"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = {name: value for name, value in request.headers.items()
               if name.lower() not in ("content-length", "host", "content-type")}
    response = Client().generic(request.method, path, data=body,
                                content_type=request.headers.get("Content-Type", ""), headers=headers)
    return response.status_code, {k: v for k, v in response.items()}, response.content


@pytest.fixture
def bank(settings, api):
    """Outbound HTTP to http://testserver reaches this process's views (emulator and webhook inbox)."""
    settings.SANDBOX = True
    settings.PUBLIC_BASE_URL = "http://testserver"
    settings.REVOLUT_SANDBOX_BACKGROUND_DELIVERY = False
    settings.REVOLUT_SANDBOX_COMPLETION_SECONDS = None
    for method in ("GET", "POST", "PATCH", "DELETE"):
        api.add_callback(method, re.compile(r"^http://testserver/.*"), callback=_forward_to_django)
    OUTAGES.clear()
    yield api
    OUTAGES.clear()


@pytest.fixture
def emulated(bank, db, supplier):
    """A connection consented through the emulator's token endpoint, with EUR and GBP accounts."""
    connection = make_connection(EMULATOR, token_status=Connection.TokenStatus.MISSING, oauth_token={},
                                 token_expires_at=None, webhook_secrets=[])
    app = sandbox_state.register_app(connection.config["certificate_pem"], oauth.redirect_uri())
    connection.config = {**connection.config, "client_id": app.client_id}
    connection.save()
    sandbox_state.ensure_account("Compte principal EUR", "EUR", Decimal("25000.00"))
    sandbox_state.ensure_account("Compte GBP", "GBP", Decimal("4200.00"))
    code = sandbox_state.new_token()
    from apps.revolut.sandbox_models import SandboxAuthCode

    SandboxAuthCode.objects.create(code=code, app=app, redirect_uri=app.redirect_uri, created_at=timezone.now())
    oauth.exchange_code(connection, code)
    connection.refresh_from_db()
    return connection
