"""`manage.py demo` for DocuSeal: a sandbox account (open-source edition, so the acceptance template is
used), its template, a connection whose webhooks come back signed, and a sent quote ready to be sent for
signature. Idempotent: everything is looked up before being made.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from apps.core.models import Connection
from apps.docuseal.sandbox import state
from apps.docuseal.sandbox.models import SandboxAccount
from apps.hub.models import Company, Contact, Quote, QuoteLine

CONNECTION_SLUG = "docuseal-sandbox"
CONNECTION_NAME = "DocuSeal (sandbox)"
DEMO_EMAIL = "signature-demo@hypervisual.example"
DEMO_QUOTE_NUMBER = "DEMO-SIGN-1"


def sandbox_url() -> str:
    return f"{settings.SANDBOX_BASE_URL}/sandbox/docuseal"


def demo_connection() -> tuple[Connection, SandboxAccount]:
    account = SandboxAccount.objects.filter(email=DEMO_EMAIL).first()
    if account is None:
        account = state.new_account(email=DEMO_EMAIL, first_name="Camille", last_name="Durand",
                                    edition=SandboxAccount.Edition.OPEN_SOURCE)
    template = account.templates.filter(name="Acceptation de devis").first() or state.acceptance_template(account)
    connection = Connection.objects.filter(slug=CONNECTION_SLUG).first()
    if connection is None:
        connection = Connection.objects.create(
            provider="docuseal", slug=CONNECTION_SLUG, name=CONNECTION_NAME, base_url=sandbox_url(),
            secrets={"api_key": account.api_key}, webhook_secrets=[account.hmac_secret],
            config={"template_id": template.pk})
    elif connection.base_url != sandbox_url():  # the sandboxes now answer elsewhere (e.g. an older run on :8001)
        connection.base_url = sandbox_url()
        connection.save(update_fields=["base_url", "updated_at"])
    if account.webhook_url != connection.webhook_url():
        account.webhook_url = connection.webhook_url()
        account.webhook_events = list(state.ALL_EVENTS)
        account.save(update_fields=["webhook_url", "webhook_events"])
    return connection, account


def demo_quote() -> Quote:
    quote = Quote.objects.filter(number=DEMO_QUOTE_NUMBER).first()
    if quote is not None:
        return quote
    company, _ = Company.objects.get_or_create(name="Studio Horizon SAS", defaults={
        "email": "contact@studio-horizon.example", "city": "Bordeaux", "postal_code": "33000"})
    if not company.contacts.filter(email__gt="").exists():
        Contact.objects.create(company=company, first_name="Inès", last_name="Garnier",
                               email="ines.garnier@studio-horizon.example", is_primary=True)
    quote = Quote.objects.create(company=company, number=DEMO_QUOTE_NUMBER, title="Identité visuelle",
                                 status=Quote.Status.SENT, valid_until=timezone.localdate() + timedelta(days=30))
    QuoteLine.objects.create(quote=quote, position=1, description="Logo et charte", quantity=1,
                             unit_price=Decimal("2400.00"))
    quote.recalculate_totals()
    return quote


def seed_demo(stdout) -> None:
    connection, account = demo_connection()
    quote = demo_quote()
    stdout.write(f"  connexion « {connection.name} » ; compte sandbox {sandbox_url()}/accounts/{account.pk}/")
    stdout.write(f"  devis {quote.number} prêt : « Envoyer pour signature » sur {settings.PUBLIC_BASE_URL}"
                 f"{quote.get_absolute_url()}")
