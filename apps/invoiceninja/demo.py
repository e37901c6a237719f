"""`manage.py demo` for Invoice Ninja: a connection to the sandbox, its webhooks, records on both sides.

Idempotent: the sandbox account, the connection and each pushed record are looked up before being made.
The sandbox answers over HTTP at SANDBOX_BASE_URL (runconsole: the console's own server), so everything
here goes through the real client, as an admin would.
"""

from __future__ import annotations

import secrets
from types import SimpleNamespace

from django.conf import settings

from apps.core.http import ApiError
from apps.core.models import Connection
from apps.hub.models import Invoice, Quote
from apps.invoiceninja import actions as in_actions
from apps.invoiceninja.client import InvoiceNinjaClient
from apps.invoiceninja.models import InvoiceLink, QuoteLink
from apps.invoiceninja.sandbox_state import SandboxAccount
from apps.invoiceninja.sync import ClientsResource, QuotesResource, record_remote
from apps.invoiceninja.webhook_registration import register_webhooks

CONNECTION_SLUG = "invoiceninja-sandbox"
CONNECTION_NAME = "Invoice Ninja (sandbox)"
REMOTE_ONLY_CLIENT = "Librairie des Quais"


def sandbox_url() -> str:
    return f"{settings.SANDBOX_BASE_URL}/sandbox/invoiceninja"


def demo_connection() -> Connection:
    account = SandboxAccount.objects.filter(name="Hypervisual (démo)").first()
    if account is None:
        account = SandboxAccount.objects.create(name="Hypervisual (démo)", api_token=secrets.token_urlsafe(32))
    connection = Connection.objects.filter(provider="invoiceninja", slug=CONNECTION_SLUG).first()
    if connection is None:
        connection = Connection.objects.create(
            provider="invoiceninja", slug=CONNECTION_SLUG, name=CONNECTION_NAME, base_url=sandbox_url(),
            secrets={"api_token": account.api_token}, webhook_secrets=[secrets.token_urlsafe(32)],
        )
    elif connection.base_url != sandbox_url():  # the sandboxes now answer elsewhere (e.g. an older run on :8001)
        connection.base_url = sandbox_url()
        connection.save(update_fields=["base_url", "updated_at"])
    return connection


def seed_demo(stdout) -> None:
    connection = demo_connection()
    stdout.write(f"  connexion « {connection.name} » → {connection.base_url}")
    no_run = SimpleNamespace(pk=None, external_ids={})
    try:
        stdout.write("  " + register_webhooks(connection).summary())
        api = InvoiceNinjaClient(connection)
        invoice = Invoice.objects.filter(number="FAC-DEMO-001").first()
        if invoice and not InvoiceLink.objects.filter(connection=connection, invoice=invoice).exists():
            in_actions.push_document(api, connection, invoice, no_run, kind="invoice")
            stdout.write("  facture FAC-DEMO-001 créée dans Invoice Ninja")
        quote = Quote.objects.filter(number="DEV-DEMO-002").first()
        if quote and not QuoteLink.objects.filter(connection=connection, quote=quote).exists():
            in_actions.push_document(api, connection, quote, no_run, kind="quote")
            stdout.write("  devis DEV-DEMO-002 créé dans Invoice Ninja (non envoyé)")
        seed_remote_only(api, connection, stdout)
    except ApiError as exc:
        stdout.write(f"  sandbox Invoice Ninja injoignable ({exc}) : lancez la sandbox puis "
                     f"`manage.py invoiceninja_register_webhooks {CONNECTION_SLUG}`.")


def seed_remote_only(api: InvoiceNinjaClient, connection: Connection, stdout) -> None:
    """A client and a quote that exist only in Invoice Ninja, imported into the hub as the sync would."""
    existing = api.list_page("clients", name=REMOTE_ONLY_CLIENT, per_page=5)
    if existing.items:
        return
    client = api.create_client({
        "name": REMOTE_ONLY_CLIENT, "country_id": 250, "address1": "5 quai Voltaire", "city": "Paris",
        "postal_code": "75007",
        "contacts": [{"first_name": "Inès", "last_name": "Roux", "email": "ines@librairie-quais.example",
                      "send_email": True}],
    })
    quote = api.create_quote({
        "client_id": client["id"], "date": "2026-01-15", "due_date": "2026-12-31",
        "line_items": [{"notes": "Catalogue de la rentrée littéraire", "quantity": 1, "cost": 640, "tax_rate1": 20,
                        "tax_name1": "TVA", "type_id": "1"}],
    })
    record_remote(connection, ClientsResource, client)
    record_remote(connection, QuotesResource, quote)
    stdout.write(f"  client « {REMOTE_ONLY_CLIENT} » et son devis créés dans Invoice Ninja puis importés")
