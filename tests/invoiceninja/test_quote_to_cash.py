"""The whole sales cycle against the running sandbox: hub quote -> sent -> approved by the client ->
invoice -> sent -> paid by the client -> hub invoice paid with the payment on its timeline."""

import secrets

import pytest
import requests

from apps.core import actions
from apps.core.models import ActionRun, TimelineEntry, WebhookEvent
from apps.hub.models import Invoice, Payment, Quote
from apps.invoiceninja.actions import ConvertQuote, SendInvoice, SendQuote
from apps.invoiceninja.models import InvoiceLink, QuoteLink
from apps.invoiceninja.sandbox_state import SandboxRecord
from apps.invoiceninja.webhook_registration import register_webhooks
from tests.invoiceninja.conftest import run_default_jobs, run_webhook_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def click(action_class, obj, user) -> ActionRun:
    """What the action bar does: start a run with a fresh key; the worker runs it."""
    run, created = actions.start(actions.get(action_class.key), obj, user, secrets.token_hex(16))
    assert created
    run_default_jobs()
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, (run.message, run.error)
    return run


def test_quote_to_cash_through_the_sandbox(sandbox_connection, live_server, quote, staff, no_pacing):
    register_webhooks(sandbox_connection)
    portal = f"{live_server.url}/sandbox/invoiceninja"

    click(SendQuote, quote, staff)
    link = QuoteLink.objects.get(quote=quote)
    remote_quote = SandboxRecord.objects.get(kind="quote", hashed_id=link.external_id)
    assert remote_quote.data["status_id"] == "2"
    assert remote_quote.data["amount"] == float(quote.total)
    run_webhook_jobs()  # create/update/sent_quote come back: they must not create a second hub quote
    quote.refresh_from_db()
    assert quote.status == Quote.Status.SENT
    assert Quote.objects.count() == 1

    page = requests.get(f"{portal}/")
    assert "Approuver" in page.text
    requests.post(f"{portal}/portal/quotes/{link.external_id}/approve/")
    run_webhook_jobs()
    quote.refresh_from_db()
    assert quote.status == Quote.Status.ACCEPTED
    assert WebhookEvent.objects.filter(event_type="approve_quote", status=WebhookEvent.Status.PROCESSED).exists()
    assert TimelineEntry.objects.filter(object_id=str(quote.pk), message__contains="Accepté").exists()

    click(ConvertQuote, quote, staff)
    run_webhook_jobs()
    invoice = Invoice.objects.get(quote=quote)
    assert Invoice.objects.count() == 1
    assert invoice.total == quote.total
    quote.refresh_from_db()
    assert quote.status == Quote.Status.CONVERTED

    click(SendInvoice, invoice, staff)
    run_webhook_jobs()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT
    remote_invoice_id = InvoiceLink.objects.get(invoice=invoice).external_id

    page = requests.get(f"{portal}/")
    assert "Enregistrer un paiement" in page.text
    requests.post(f"{portal}/portal/invoices/{remote_invoice_id}/pay/", data={"amount": str(invoice.total)})
    run_webhook_jobs()

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert invoice.amount_paid == invoice.total
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.amount, payment.source, payment.direction) == (invoice.total, "invoiceninja", "in")
    assert TimelineEntry.objects.filter(object_id=str(invoice.pk), message__startswith="Paiement reçu").count() == 1
    assert not WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).exists()
