"""Two payments for one invoice arriving at the same moment, on PostgreSQL: two Revolut transfers naming the same
invoice (an invoice that lives in Invoice Ninja) are delivered by two threads, each with its own database
connection, started together. Both transfers are recorded; the invoice is paid once: marked paid once in Invoice
Ninja (one payment there, received once here), one thank-you email through Mautic. The other transfer waits in
"À rapprocher"."""

import secrets
import threading
import time

import pytest
from django.db import connection as db_connection

from apps.automations import matching
from apps.automations.models import BankCredit, Chain
from apps.core import actions
from apps.core.models import ActionRun, Connection, TimelineEntry
from apps.hub.models import Invoice, Payment
from apps.invoiceninja.actions import SendInvoice
from apps.invoiceninja.models import InvoiceLink
from apps.invoiceninja.sandbox_state import SandboxRecord
from apps.invoiceninja.webhook_registration import register_webhooks
from apps.mautic.sandbox import delivery as mautic_delivery
from apps.mautic.sandbox import records as mautic_records
from tests.automations.conftest import run_default_jobs, run_webhook_jobs
from tests.automations.test_after_payment import credit, revolut  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(db_connection.vendor != "postgresql", reason="row locks: PostgreSQL only (SQLite has none)"),
]


def in_parallel(*callables):
    barrier = threading.Barrier(len(callables))
    errors = []

    def run(func):
        try:
            barrier.wait(timeout=10)
            func()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=run, args=(f,)) for f in callables]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


@pytest.fixture
def mautic_thanks(live_server, monkeypatch):
    """Mautic's emulator on the live server, with a thank-you email configured on the connection."""
    monkeypatch.setattr(mautic_delivery, "DELIVER_IN_BACKGROUND", False)
    instance = mautic_records.instance()
    thanks = mautic_records.ensure_emails(instance)[0]
    Connection.objects.create(provider="mautic", name="Mautic", slug="mautic",
                              base_url=f"{live_server.url}/sandbox/mautic",
                              secrets={"username": instance.username, "password": instance.password},
                              webhook_secrets=["whsec-mautic-0123456789"], config={"thank_you_email": thanks.pk})
    return instance


@pytest.fixture
def widened_race(monkeypatch):
    """Whoever applies a transfer first lingers before committing, so the other delivery is certainly there at
    the same time (without this the two threads could simply take turns)."""
    original = matching.apply

    def slow_apply(*args, **kwargs):
        time.sleep(0.5)
        return original(*args, **kwargs)

    monkeypatch.setattr(matching, "apply", slow_apply)


def sent_invoice(company, staff) -> Invoice:
    invoice = Invoice.objects.create(company=company, title="Refonte du site", currency="EUR")
    invoice.lines.create(position=0, description="Maquettes", quantity=1, unit_price="1800.00")
    invoice.recalculate_totals()
    run, _created = actions.start(actions.get(SendInvoice.key), invoice, staff, secrets.token_hex(16))
    run_default_jobs()
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    run_webhook_jobs()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT and invoice.number
    return invoice


def test_two_transfers_at_the_same_moment_are_both_recorded_and_pay_the_invoice_once(
        sandbox_connection, company, staff, no_pacing, revolut, mautic_thanks, widened_race):
    register_webhooks(sandbox_connection)
    invoice = sent_invoice(company, staff)
    reference = f"Facture {invoice.number}"

    in_parallel(lambda: credit(revolut, "tx-race-a", str(invoice.total), reference=reference),
                lambda: credit(revolut, "tx-race-b", str(invoice.total), reference=reference))
    for _round in range(3):  # mark paid in Invoice Ninja, its payment webhook, then the thank-you
        run_default_jobs()
        run_webhook_jobs()

    # Both transfers recorded: one applied, the other waiting for a person (a double payment to refund?).
    statuses = sorted(BankCredit.objects.values_list("status", flat=True))
    assert statuses == sorted([BankCredit.Status.MATCHED, BankCredit.Status.TO_MATCH])
    waiting = BankCredit.objects.get(status=BankCredit.Status.TO_MATCH)
    assert "un autre virement est déjà rapproché" in waiting.reason
    # Paid once, everywhere.
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_paid == invoice.total
    assert Chain.objects.filter(rule="bank_credit").count() == 1
    remote_id = InvoiceLink.objects.get(invoice=invoice).external_id
    remote_payments = [[line["invoice_id"] for line in p.data["paymentables"]]
                       for p in SandboxRecord.objects.filter(kind="payment")]
    assert remote_payments == [[remote_id]]  # one Invoice Ninja payment
    assert Payment.objects.filter(invoice=invoice).count() == 1
    # On its timeline: marked paid once by the automation, Invoice Ninja's payment received once.
    marked = ActionRun.objects.filter(action="invoiceninja.mark_paid", object_id=str(invoice.pk))
    assert [run.status for run in marked] == [ActionRun.Status.SUCCEEDED]
    received = TimelineEntry.objects.filter(object_id=str(invoice.pk), content_type__model="invoice",
                                            message__startswith="Paiement reçu")
    assert received.count() == 1
    thanks = ActionRun.objects.filter(action="mautic.send_thanks")
    assert [run.status for run in thanks] == [ActionRun.Status.SUCCEEDED], [run.message for run in thanks]
    assert mautic_records.objects(mautic_thanks, "stat").count() == 1  # one thank-you email
