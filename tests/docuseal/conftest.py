"""Fixtures of the DocuSeal tests: connections, a sent quote, the sandbox served by the live server."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from apps.core.models import Connection
from apps.docuseal.sandbox import state
from apps.docuseal.sandbox.models import SandboxAccount
from apps.hub.models import Company, Contact, Quote
from tests import workers

API_KEY = "ds-key-0123456789abcdef"
HMAC_SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIz"


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def connection(db, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.test"
    return Connection.objects.create(
        provider="docuseal", name="DocuSeal", slug="ds", base_url="https://sign.example.test",
        secrets={"api_key": API_KEY}, webhook_secrets=[HMAC_SECRET], config={"template_id": 7},
    )


@pytest.fixture
def company(db):
    company = Company.objects.create(name="Atelier Lumière SARL", email="contact@atelier.example", city="Lyon")
    Contact.objects.create(company=company, first_name="Claire", last_name="Moreau",
                           email="claire@atelier.example", is_primary=True)
    return company


@pytest.fixture
def quote(company):
    quote = Quote.objects.create(company=company, title="Refonte du site", number="D-0042", status=Quote.Status.SENT)
    quote.lines.create(position=0, description="Maquettes", quantity=1, unit_price="1800.00")
    quote.recalculate_totals()
    return quote


@pytest.fixture
def staff(db):
    user = User.objects.create_user("vendeur", password="pw-vendeur-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(
        codename__in=["send_documents", "view_console", "view_quote", "change_quote", "manage_connections"]))
    return User.objects.get(pk=user.pk)


def run_jobs(queue: str) -> None:
    workers.run_jobs(queue)


@pytest.fixture
def sandbox(live_server, settings, redis_connection):
    """A sandbox account (Pro edition) and a connection to it; its webhooks come back to the live server."""
    settings.SANDBOX = True
    settings.PUBLIC_BASE_URL = live_server.url
    settings.DOCUSEAL_SANDBOX_BACKGROUND_DELIVERY = False
    settings.DOCUSEAL_SANDBOX_MINUTE_SECONDS = 0
    account = state.new_account(edition=SandboxAccount.Edition.PRO)
    template = state.acceptance_template(account)
    connection = Connection.objects.create(
        provider="docuseal", name="DocuSeal (sandbox)", slug="ds-sandbox",
        base_url=f"{live_server.url}/sandbox/docuseal", secrets={"api_key": account.api_key},
        webhook_secrets=[account.hmac_secret], config={"template_id": template.pk},
    )
    account.webhook_url = connection.webhook_url()
    account.save()
    return connection, account, template
