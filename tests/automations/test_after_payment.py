"""After payment, whichever way: an Invoice Ninja payment (portal) or an incoming Revolut credit matched to an
open invoice (rules in the README). Paid once in the hub and in Invoice Ninja, Mautic reminders stopped;
anything doubtful (currency, amount above the balance due, several invoices possible, a second credit for the
same invoice) waits in "À rapprocher" for a person's click."""

from decimal import Decimal

import pytest
import requests
from django.test import Client

from apps.automations.models import BankCredit, Chain
from apps.core.models import Connection, TimelineEntry
from apps.hub.models import Company, Invoice, Payment
from apps.invoiceninja.models import InvoiceLink
from apps.invoiceninja.sandbox_state import SandboxRecord
from apps.invoiceninja.webhook_registration import register_webhooks
from apps.mautic.models import DunningStop, ReminderSend
from apps.revolut.models import RevolutTransaction
from apps.revolut.sync import mirror_transaction
from tests.automations.conftest import docuseal_event, run_default_jobs, run_webhook_jobs, sent_for_signature

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def revolut(db):
    return Connection.objects.create(provider="revolut", name="Revolut", slug="rev",
                                     base_url="https://sandbox-b2b.revolut.com/api/1.0",
                                     secrets={"client_id": "cid"}, webhook_secrets=["wsk_0123456789abcdef"])


@pytest.fixture
def mautic(db, live_server):
    return Connection.objects.create(provider="mautic", name="Mautic", slug="mautic",
                                     base_url=f"{live_server.url}/nowhere/mautic",
                                     secrets={"username": "u", "password": "p"},
                                     webhook_secrets=["m-secret-0123456789"],
                                     config={"reminder_emails": {"1": 5}})


def open_invoice(company, number="F-2026-0107", total="1200.00", currency="EUR") -> Invoice:
    invoice = Invoice.objects.create(company=company, number=number, currency=currency,
                                     status=Invoice.Status.SENT, title="Maintenance")
    invoice.lines.create(description="Forfait", quantity=1, unit_price=Decimal(total), tax_rate=0)
    invoice.recalculate_totals()
    return invoice


def credit(revolut, external_id, amount, *, reference="", currency="EUR", payer="", state="completed"):
    """An incoming transfer as the sync or the TransactionCreated webhook mirrors it (Revolut NOTES §4.2)."""
    payload = {"id": external_id, "type": "transfer", "state": state, "reference": reference,
               "created_at": "2026-12-03T09:00:00Z", "completed_at": "2026-12-03T09:00:01Z",
               "legs": [{"leg_id": f"{external_id}-1", "amount": float(amount), "currency": currency,
                         "account_id": "acc-eur", "description": payer}]}
    record, _created = RevolutTransaction.objects.update_or_create(
        connection=revolut, external_id=external_id,
        defaults={"payload": payload, "content_hash": RevolutTransaction.hash_payload(payload)})
    mirror_transaction(record)
    return record


@pytest.fixture
def atelier(db):
    return Company.objects.create(name="Atelier Lumière SARL", email="contact@atelier.example")


def test_a_credit_naming_the_invoice_pays_it_and_stops_the_reminders(revolut, mautic, atelier):
    invoice = open_invoice(atelier)
    ReminderSend.objects.create(connection=mautic, invoice=invoice, level=1, email_id=5,
                                status=ReminderSend.Status.SENT)
    credit(revolut, "tx-1", "1200.00", reference="Facture F-2026-0107 merci", payer="Payment from ATELIER")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_paid == Decimal("1200.00")
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.source, payment.external_id, payment.amount) == ("revolut", "tx-1", Decimal("1200.00"))
    assert BankCredit.objects.get().status == BankCredit.Status.MATCHED
    assert Chain.objects.get(rule="bank_credit").status == Chain.Status.SUCCEEDED
    assert DunningStop.objects.filter(invoice=invoice).exists()  # Mautic: reminders stopped
    messages = list(TimelineEntry.objects.filter(object_id=str(invoice.pk)).values_list("provider", "message"))
    assert any(p == "automatique" and "tx-1" in m for p, m in messages)
    assert any(p == "mautic" and "Relances Mautic arrêtées" in m for p, m in messages)

    credit(revolut, "tx-1", "1200.00", reference="Facture F-2026-0107 merci")  # the same credit seen again
    assert Payment.objects.count() == 1 and BankCredit.objects.count() == 1


def test_amount_and_payer_match_when_the_reference_says_nothing(revolut, atelier):
    invoice = open_invoice(atelier, number="F-9")
    other = open_invoice(Company.objects.create(name="Boulangerie Martin"), number="F-10")
    credit(revolut, "tx-2", "1200.00", reference="virement", payer="Virement de Atelier Lumiere SARL")
    invoice.refresh_from_db()
    other.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert other.status == Invoice.Status.SENT


@pytest.mark.parametrize(("amount", "currency", "reason"), [
    ("1200.00", "GBP", "devise différente"),
    ("1500.00", "EUR", "montant supérieur au solde dû"),
    ("200.00", "EUR", "paiement partiel"),
])
def test_a_credit_in_another_currency_or_not_the_balance_due_never_pays_on_its_own(revolut, atelier, amount,
                                                                                   currency, reason):
    invoice = open_invoice(atelier)
    credit(revolut, "tx-3", amount, currency=currency, reference="F-2026-0107")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT and not Payment.objects.exists()
    waiting = BankCredit.objects.get()
    assert waiting.status == BankCredit.Status.TO_MATCH and reason in waiting.reason


def test_a_pending_or_outgoing_transaction_is_not_a_credit(revolut, atelier):
    invoice = open_invoice(atelier)
    credit(revolut, "tx-4", "1200.00", reference="F-2026-0107", state="pending")
    credit(revolut, "tx-5", "-1200.00", reference="F-2026-0107")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT and not BankCredit.objects.exists()


def test_an_ambiguous_credit_waits_and_a_user_confirms_it_with_one_click(revolut, atelier, admin_user, staff):
    first = open_invoice(atelier, number="F-1")
    second = open_invoice(atelier, number="F-2")
    credit(revolut, "tx-6", "1200.00", reference="merci", payer="ATELIER LUMIERE SARL")
    waiting = BankCredit.objects.get()
    assert waiting.status == BankCredit.Status.TO_MATCH and "plusieurs factures" in waiting.reason
    assert set(waiting.candidates.all()) == {first, second}

    outsider = Client()
    outsider.force_login(staff)  # a salesperson without the matching permission
    assert outsider.post(f"/automations/credits/{waiting.pk}/confirm/", {"invoice": second.pk}).status_code == 403
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(admin_user)
    assert forged.post(f"/automations/credits/{waiting.pk}/confirm/", {"invoice": second.pk}).status_code == 403

    user = Client()
    user.force_login(admin_user)
    page = user.get("/automations/credits/")
    assert page.status_code == 200 and "ATELIER LUMIERE SARL" in page.text and "plusieurs factures" in page.text
    assert "1 virement à rapprocher" in user.get("/admin/").text
    user.post(f"/automations/credits/{waiting.pk}/confirm/", {"invoice": second.pk})
    user.post(f"/automations/credits/{waiting.pk}/confirm/", {"invoice": second.pk})  # double click
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.status == Invoice.Status.PAID and first.status == Invoice.Status.SENT
    assert Payment.objects.count() == 1
    waiting.refresh_from_db()
    assert (waiting.status, waiting.invoice, waiting.decided_by) == (BankCredit.Status.CONFIRMED, second, admin_user)


def test_two_credits_for_one_invoice_are_both_recorded_and_it_is_paid_once(revolut, atelier):
    invoice = open_invoice(atelier)
    credit(revolut, "tx-7", "1200.00", reference="F-2026-0107")
    credit(revolut, "tx-8", "1200.00", reference="F-2026-0107")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_paid == Decimal("1200.00")
    assert Payment.objects.filter(invoice=invoice).count() == 1
    statuses = dict(BankCredit.objects.values_list("transaction__external_id", "status"))
    assert statuses["tx-7"] == BankCredit.Status.MATCHED
    assert statuses["tx-8"] == BankCredit.Status.TO_MATCH  # the second waits for a person (refund, other invoice?)


def test_a_rule_switched_off_leaves_credits_alone(revolut, atelier):
    from apps.automations.models import Rule

    Rule.objects.create(key="bank_credit", enabled=False)
    invoice = open_invoice(atelier)
    credit(revolut, "tx-9", "1200.00", reference="F-2026-0107")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT and not BankCredit.objects.exists()


# Through Invoice Ninja's sandbox --------------------------------------------------------------------------------
def signed_and_invoiced(sandbox_connection, docuseal, quote, staff) -> Invoice:
    register_webhooks(sandbox_connection)
    sent_for_signature(quote, staff, docuseal)
    docuseal_event(docuseal, "submission.completed", 501, "completed")
    run_default_jobs()
    run_webhook_jobs()
    invoice = Invoice.objects.get(quote=quote)
    assert invoice.status == Invoice.Status.SENT
    return invoice


def test_a_revolut_credit_for_an_invoice_in_invoice_ninja_records_the_payment_there_once(
        sandbox_connection, docuseal, quote, staff, no_pacing, revolut):
    invoice = signed_and_invoiced(sandbox_connection, docuseal, quote, staff)
    credit(revolut, "tx-10", str(invoice.total), reference=f"Règlement {invoice.number}")
    run_default_jobs()
    run_webhook_jobs()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_paid == invoice.total
    remote = SandboxRecord.objects.get(kind="invoice", hashed_id=InvoiceLink.objects.get(invoice=invoice).external_id)
    assert remote.data["status_id"] == "4"
    assert SandboxRecord.objects.filter(kind="payment").count() == 1
    # Invoice Ninja's payment came back by webhook: one hub payment, not counted twice.
    assert list(Payment.objects.filter(invoice=invoice).values_list("source", flat=True)) == ["invoiceninja"]
    chain = Chain.objects.get(rule="bank_credit")
    assert chain.status == Chain.Status.SUCCEEDED and "tx-10" in chain.cause


def test_a_client_paying_in_the_invoice_ninja_portal_closes_the_loop(
        sandbox_connection, docuseal, quote, staff, no_pacing, live_server, mautic):
    invoice = signed_and_invoiced(sandbox_connection, docuseal, quote, staff)
    ReminderSend.objects.create(connection=mautic, invoice=invoice, level=1, email_id=5,
                                status=ReminderSend.Status.SENT)
    remote_id = InvoiceLink.objects.get(invoice=invoice).external_id
    requests.post(f"{live_server.url}/sandbox/invoiceninja/portal/invoices/{remote_id}/pay/",
                  data={"amount": str(invoice.total)})
    run_webhook_jobs()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert DunningStop.objects.filter(invoice=invoice).exists()


def test_two_payments_for_one_invoice_are_both_recorded_and_it_becomes_paid_once(
        sandbox_connection, docuseal, quote, staff, no_pacing, live_server):
    invoice = signed_and_invoiced(sandbox_connection, docuseal, quote, staff)
    remote_id = InvoiceLink.objects.get(invoice=invoice).external_id
    half = (invoice.total / 2).quantize(Decimal("0.01"))
    for amount in (half, invoice.total - half):  # both delivered before the console processes either
        requests.post(f"{live_server.url}/sandbox/invoiceninja/portal/invoices/{remote_id}/pay/",
                      data={"amount": str(amount)})
    run_webhook_jobs()
    run_default_jobs()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_paid == invoice.total
    assert sorted(Payment.objects.filter(invoice=invoice).values_list("amount", flat=True)) == sorted(
        [half, invoice.total - half])
    became_paid = TimelineEntry.objects.filter(object_id=str(invoice.pk), content_type__model="invoice",
                                               message__contains="« Payée »")
    assert became_paid.count() == 1
