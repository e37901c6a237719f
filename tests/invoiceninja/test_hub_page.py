"""The Invoice Ninja hub page, its buttons, the registration command and the demo seed."""

import io

import pytest
from django.core.management import call_command

from apps.core.models import Connection, SyncRun, WebhookEvent
from apps.hub.models import Company, Invoice, Quote
from apps.invoiceninja.demo import CONNECTION_SLUG, REMOTE_ONLY_CLIENT, demo_connection, seed_demo
from apps.invoiceninja.models import InvoiceLink, QuoteLink
from apps.invoiceninja.sandbox_state import SandboxRecord


@pytest.mark.django_db
def test_hub_page_shows_health_quotes_to_send_and_recent_webhooks(client, connection, quote, staff):
    WebhookEvent.objects.create(connection=connection, provider="invoiceninja", event_type="approve_quote",
                                status=WebhookEvent.Status.PROCESSED, body=b"{}")
    client.force_login(staff)
    page = client.get("/invoiceninja/").content.decode()
    assert "Invoice Ninja" in page and "Jamais testée" in page
    assert quote.title in page and "approve_quote" in page
    assert "Synchroniser maintenant" in page and "Enregistrer les webhooks" in page


@pytest.mark.django_db
def test_hub_page_is_for_staff_only(client, connection):
    assert client.get("/invoiceninja/").status_code == 302


@pytest.mark.django_db
def test_sync_now_queues_the_four_resources(client, connection, staff, redis_connection):
    client.force_login(staff)
    response = client.post("/invoiceninja/sync/", {"connection": connection.pk})
    assert response.status_code == 302
    assert SyncRun.objects.filter(connection=connection).count() == 4


@pytest.mark.django_db(transaction=True)
def test_register_command_is_idempotent(sandbox_connection):
    out = io.StringIO()
    call_command("invoiceninja_register_webhooks", sandbox_connection.slug, stdout=out)
    call_command("invoiceninja_register_webhooks", sandbox_connection.slug, stdout=out)
    assert "15 créé(s)" in out.getvalue() and "15 déjà en place" in out.getvalue()
    assert SandboxRecord.objects.filter(kind="webhook").count() == 15


@pytest.mark.django_db(transaction=True)
def test_demo_seed_connects_to_the_sandbox_and_fills_both_sides_once(live_server, settings, redis_connection,
                                                                     sandbox_deliveries_inline, no_pacing):
    settings.SANDBOX = True
    settings.PUBLIC_BASE_URL = live_server.url
    settings.SANDBOX_BASE_URL = live_server.url  # the launchers' setting: where the sandbox process answers
    company = Company.objects.create(name="Cabinet Dupont Architectes", email="agence@dupont.example")
    invoice = Invoice.objects.create(company=company, number="FAC-DEMO-001")
    invoice.lines.create(description="Maintenance", quantity=12, unit_price=85)
    invoice.recalculate_totals()
    quote = Quote.objects.create(company=company, number="DEV-DEMO-002")
    quote.lines.create(description="Logo", quantity=1, unit_price=950)
    quote.recalculate_totals()

    for _ in range(2):
        seed_demo(io.StringIO())

    connection = Connection.objects.get(slug=CONNECTION_SLUG)
    assert connection.base_url == f"{live_server.url}/sandbox/invoiceninja"
    assert InvoiceLink.objects.filter(invoice=invoice).exists() and QuoteLink.objects.filter(quote=quote).exists()
    assert SandboxRecord.objects.filter(kind="invoice", data__number="FAC-DEMO-001").count() == 1
    assert SandboxRecord.objects.filter(kind="webhook").count() == 15
    assert Company.objects.filter(name=REMOTE_ONLY_CLIENT).count() == 1
    assert Quote.objects.filter(company__name=REMOTE_ONLY_CLIENT).count() == 1


@pytest.mark.django_db
def test_the_demo_connection_follows_the_sandbox_process_of_this_run(settings):
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8123"
    first = demo_connection()
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:9456"  # `make run` again, the sandbox on another port
    again = demo_connection()
    assert again.pk == first.pk
    assert Connection.objects.get(slug=CONNECTION_SLUG).base_url == "http://127.0.0.1:9456/sandbox/invoiceninja"
