"""Money from Invoice Ninja into the hub (reconcile.apply_payment / refresh_payment_state): what counts as paid,
exactly when an invoice becomes paid, refunds, cancelled and deleted payments, payments over several invoices,
and a payment never being taken for a local edit of the invoice."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.models import Connection, TimelineEntry
from apps.hub.models import Company, Invoice, Payment, lines_from_vendor
from apps.invoiceninja import reconcile
from apps.invoiceninja.models import InvoiceLink
from tests.meanwhile import written_meanwhile

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(db):
    return Company.objects.create(name="Atelier Lumière SARL", currency="EUR")


def linked_invoice(connection, customer, external_id="inv-1", total="100.00", status=Invoice.Status.SENT,
                   currency="EUR"):
    invoice = Invoice.objects.create(company=customer, currency=currency, status=status, number=f"F-{external_id}")
    with lines_from_vendor():  # the lines as Invoice Ninja sent them, whatever the document's state
        invoice.lines.create(position=0, description="Prestation", quantity=1, unit_price=Decimal(total), tax_rate=0)
    invoice.recalculate_totals()
    invoice.refresh_from_db()
    link = InvoiceLink.objects.create(connection=connection, invoice=invoice, external_id=external_id)
    link.mark_in_step(None)
    return invoice


def payment(amount="100.00", *, invoices=None, refunded="0", status_id="4", is_deleted=False, pid="pay-1",
            number="P-1", day="2026-03-02"):
    invoices = invoices or {"inv-1": amount}
    return {"id": pid, "number": number, "status_id": status_id, "is_deleted": is_deleted, "date": day,
            "paymentables": [{"invoice_id": invoice_id, "amount": value, "refunded": refunded}
                             for invoice_id, value in invoices.items()]}


def state(invoice):
    invoice.refresh_from_db()
    return invoice.status, invoice.amount_paid


@pytest.mark.parametrize("amount, status", [("100.00", Invoice.Status.PAID), ("99.99", Invoice.Status.PARTIAL),
                                            ("100.01", Invoice.Status.PAID)])
def test_an_invoice_is_paid_exactly_when_its_payments_reach_its_total(connection, customer, amount, status):
    invoice = linked_invoice(connection, customer)
    (recorded,) = reconcile.apply_payment(connection, payment(amount))
    assert state(invoice) == (status, Decimal(amount))
    assert (recorded.source, recorded.external_id, recorded.amount, recorded.currency, recorded.direction) == (
        "invoiceninja", "pay-1", Decimal(amount), "EUR", Payment.Direction.INCOMING)
    assert recorded.date == date(2026, 3, 2) and recorded.invoice == invoice


def test_the_payment_and_the_new_status_are_written_on_the_invoice_timeline_once(connection, customer):
    linked_invoice(connection, customer)
    reconcile.apply_payment(connection, payment("100.00"))
    reconcile.apply_payment(connection, payment("100.00"))  # delivered twice
    messages = list(TimelineEntry.objects.order_by("pk").values_list("message", "level"))
    assert messages == [("Paiement reçu via Invoice Ninja : 100,00\xa0€ (n° P-1).", "success"),
                        ("Facture « Payée » (payé : 100,00\xa0€).", "success")]
    assert Payment.objects.count() == 1
    entry = TimelineEntry.objects.order_by("pk").first()
    assert (entry.provider, entry.external_ids) == ("invoiceninja", {"invoiceninja_payment_id": "pay-1"})


def test_a_partial_refund_lowers_the_payment_and_a_full_refund_removes_it(connection, customer):
    invoice = linked_invoice(connection, customer)
    reconcile.apply_payment(connection, payment("100.00"))
    reconcile.apply_payment(connection, payment("100.00", refunded="30.00"))
    assert Payment.objects.get().amount == Decimal("70.00")
    assert state(invoice) == (Invoice.Status.PARTIAL, Decimal("70.00"))
    assert TimelineEntry.objects.filter(message="Paiement reçu via Invoice Ninja : 70,00\xa0€ (n° P-1).").exists()
    reconcile.apply_payment(connection, payment("100.00", refunded="100.00"))
    assert not Payment.objects.exists()
    assert state(invoice) == (Invoice.Status.SENT, Decimal("0.00"))
    assert TimelineEntry.objects.filter(message="Paiement P-1 annulé ou supprimé dans Invoice Ninja.",
                                        level="warning").count() == 1


@pytest.mark.parametrize("void", [{"status_id": "2"}, {"status_id": "3"}, {"is_deleted": True}])
def test_a_cancelled_failed_or_deleted_payment_does_not_count(connection, customer, void):
    invoice = linked_invoice(connection, customer)
    assert reconcile.apply_payment(connection, payment("100.00", **void)) == []
    assert not Payment.objects.exists() and state(invoice) == (Invoice.Status.SENT, Decimal("0.00"))
    reconcile.apply_payment(connection, payment("100.00"))
    assert state(invoice)[0] == Invoice.Status.PAID
    reconcile.apply_payment(connection, payment("100.00", **void))
    assert not Payment.objects.exists() and state(invoice) == (Invoice.Status.SENT, Decimal("0.00"))


@pytest.mark.parametrize("status_id", ["1", "4", "5", "6", None])
def test_pending_completed_and_refunded_statuses_still_count(connection, customer, status_id):
    invoice = linked_invoice(connection, customer)
    reconcile.apply_payment(connection, payment("40.00", status_id=status_id))
    assert state(invoice) == (Invoice.Status.PARTIAL, Decimal("40.00"))


def test_a_payment_over_two_invoices_is_one_hub_payment_per_invoice(connection, customer):
    first = linked_invoice(connection, customer, "inv-1", total="100.00")
    second = linked_invoice(connection, customer, "inv-2", total="50.00")
    recorded = reconcile.apply_payment(connection, payment(invoices={"inv-1": "100.00", "inv-2": "20.00"}))
    assert sorted((p.external_id, p.amount) for p in recorded) == [("pay-1:inv-1", Decimal("100.00")),
                                                                  ("pay-1:inv-2", Decimal("20.00"))]
    assert state(first) == (Invoice.Status.PAID, Decimal("100.00"))
    assert state(second) == (Invoice.Status.PARTIAL, Decimal("20.00"))


def test_a_cancelled_invoice_stays_cancelled_whatever_is_paid(connection, customer):
    invoice = linked_invoice(connection, customer, status=Invoice.Status.CANCELLED)
    reconcile.apply_payment(connection, payment("100.00"))
    assert state(invoice) == (Invoice.Status.CANCELLED, Decimal("100.00"))


def test_a_draft_invoice_without_payment_keeps_its_status_and_a_zero_total_is_never_paid(connection, customer):
    draft = linked_invoice(connection, customer, status=Invoice.Status.DRAFT)
    reconcile.refresh_payment_state(draft)
    assert state(draft) == (Invoice.Status.DRAFT, Decimal("0.00"))
    assert not TimelineEntry.objects.exists()
    free = linked_invoice(connection, customer, "inv-free", total="0.00")
    Payment.objects.create(source="manual", external_id="x", direction=Payment.Direction.INCOMING, invoice=free,
                           amount=Decimal("0.00"), currency="EUR", date=timezone.localdate())
    reconcile.refresh_payment_state(free)
    assert state(free)[0] == Invoice.Status.SENT


def test_outgoing_payments_are_not_counted_as_received(connection, customer):
    invoice = linked_invoice(connection, customer)
    Payment.objects.create(source="manual", external_id="out", direction=Payment.Direction.OUTGOING, invoice=invoice,
                           amount=Decimal("100.00"), currency="EUR", date=timezone.localdate())
    reconcile.refresh_payment_state(invoice)
    assert state(invoice) == (Invoice.Status.SENT, Decimal("0.00"))


def test_a_payment_without_a_date_is_dated_today(connection, customer):
    linked_invoice(connection, customer)
    (recorded,) = reconcile.apply_payment(connection, payment("10.00", day=""))
    assert recorded.date == timezone.localdate()


def test_a_payment_for_an_unknown_invoice_fetches_it_or_says_what_is_missing(connection, customer):
    already_known = linked_invoice(connection, customer, "inv-1")
    other = Connection.objects.create(provider="invoiceninja", name="IN 2", slug="in-2", base_url="https://in2.test")
    elsewhere = Invoice.objects.create(company=customer, currency="EUR", status=Invoice.Status.SENT, number="B-1")
    InvoiceLink.objects.create(connection=other, invoice=elsewhere, external_id="inv-404")
    with pytest.raises(reconcile.MissingDependency) as missing:
        reconcile.apply_payment(connection, payment("10.00", invoices={"inv-404": "10.00"}))
    assert str(missing.value) == "Facture Invoice Ninja inv-404 inconnue de la console"
    fetched = []

    def fetch_invoice(invoice_id):
        fetched.append(invoice_id)
        linked_invoice(connection, customer, invoice_id)
        return {"id": invoice_id, "is_deleted": False}

    recorded = reconcile.apply_payment(connection, payment("10.00", invoices={"inv-404": "10.00"}),
                                       fetch_invoice=fetch_invoice)
    assert fetched == ["inv-404"] and [p.amount for p in recorded] == [Decimal("10.00")]
    assert recorded[0].invoice == InvoiceLink.objects.get(connection=connection, external_id="inv-404").invoice
    assert state(already_known) == state(elsewhere) == (Invoice.Status.SENT, Decimal("0.00"))


def test_a_payment_is_not_taken_for_a_local_edit_of_the_invoice(connection, customer):
    invoice = linked_invoice(connection, customer)
    link = InvoiceLink.objects.get(invoice=invoice)
    reconcile.apply_payment(connection, payment("30.00"))
    link.refresh_from_db()
    invoice.refresh_from_db()
    assert not link.has_local_changes(invoice)


def test_a_payment_after_a_local_edit_leaves_the_edit_visible_as_local(connection, customer):
    invoice = linked_invoice(connection, customer)
    link = InvoiceLink.objects.get(invoice=invoice)
    Invoice.objects.filter(pk=invoice.pk).update(updated_at=timezone.now() + timezone.timedelta(seconds=5))
    invoice.refresh_from_db()
    before = link.last_synced_at
    reconcile.apply_payment(connection, payment("30.00"))
    link.refresh_from_db()
    assert link.last_synced_at == before


def test_an_invoice_emailed_while_its_payment_is_recorded_keeps_its_sending_date(connection, customer):
    invoice = linked_invoice(connection, customer)
    link = InvoiceLink.objects.get(invoice=invoice)
    emailed_at = timezone.now()
    with written_meanwhile(InvoiceLink, link.pk, emailed_at=emailed_at) as preceded:
        reconcile.apply_payment(connection, payment("30.00"))
    assert preceded  # the email was recorded between the payment's read of the link and its save
    link.refresh_from_db()
    assert link.emailed_at == emailed_at
    assert state(invoice) == (Invoice.Status.PARTIAL, Decimal("30.00"))


@pytest.mark.parametrize("total, amount, status", [("0.50", "0.50", Invoice.Status.PAID),
                                                   ("0.50", "0.49", Invoice.Status.PARTIAL),
                                                   ("100.00", "0.01", Invoice.Status.PARTIAL)])
def test_a_small_invoice_is_paid_by_its_total_and_a_first_cent_makes_any_invoice_partly_paid(connection, customer,
                                                                                           total, amount, status):
    invoice = linked_invoice(connection, customer, total=total)
    reconcile.apply_payment(connection, payment(amount))
    assert state(invoice) == (status, Decimal(amount))
    entry = TimelineEntry.objects.filter(message__startswith="Facture «").get()
    assert entry.text == f"Facture « {status.label} » (payé : {amount.replace('.', ',')}\xa0€)."


def test_money_on_the_timeline_is_in_the_invoice_s_currency_and_a_partial_payment_is_not_a_success(connection,
                                                                                                  customer):
    linked_invoice(connection, customer, currency="USD")
    reconcile.apply_payment(connection, payment("40.00"))
    reconcile.apply_payment(connection, payment("60.00", pid="pay-2", number="P-2"))
    said = list(TimelineEntry.objects.order_by("pk").values_list("message", "level"))
    assert said == [("Paiement reçu via Invoice Ninja : 40,00\xa0$US (n° P-1).", "success"),
                    ("Facture « Partiellement payée » (payé : 40,00\xa0$US).", "info"),
                    ("Paiement reçu via Invoice Ninja : 60,00\xa0$US (n° P-2).", "success"),
                    ("Facture « Payée » (payé : 100,00\xa0$US).", "success")]


def test_a_payment_without_a_number_is_named_by_a_dash_then_by_its_id_when_cancelled(connection, customer):
    linked_invoice(connection, customer)
    reconcile.apply_payment(connection, payment("100.00", number=""))
    reconcile.apply_payment(connection, payment("100.00", number="", status_id="2"))
    said = list(TimelineEntry.objects.filter(message__startswith="Paiement").order_by("pk")
                .values_list("message", flat=True))
    assert said == ["Paiement reçu via Invoice Ninja : 100,00\xa0€ (n° —).",
                    "Paiement pay-1 annulé ou supprimé dans Invoice Ninja."]


def test_cancelling_one_payment_removes_only_it_never_another_one_nor_a_bank_payment_of_the_same_reference(
        connection, customer):
    invoice = linked_invoice(connection, customer)
    bank = Payment.objects.create(source="revolut", external_id="pay-2", direction=Payment.Direction.INCOMING,
                                  invoice=invoice, amount=Decimal("5.00"), currency="EUR", date=timezone.localdate())
    reconcile.apply_payment(connection, payment("30.00"))
    reconcile.apply_payment(connection, payment("20.00", pid="pay-2", number="P-2"))
    reconcile.apply_payment(connection, payment("10.00", pid="pay-3", number="P-3"))
    reconcile.apply_payment(connection, payment("20.00", pid="pay-2", number="P-2", is_deleted=True))
    assert sorted(Payment.objects.values_list("source", "external_id", "amount")) == [
        ("invoiceninja", "pay-1", Decimal("30.00")), ("invoiceninja", "pay-3", Decimal("10.00")),
        ("revolut", "pay-2", Decimal("5.00"))]
    assert Payment.objects.filter(pk=bank.pk).exists()
    assert state(invoice) == (Invoice.Status.PARTIAL, Decimal("45.00"))
    assert TimelineEntry.objects.filter(message__startswith="Paiement reçu").count() == 3


def test_a_payment_still_pays_its_other_invoices_when_one_was_deleted_in_invoice_ninja(connection, customer):
    second = linked_invoice(connection, customer, "inv-2", total="50.00")

    def fetch_invoice(invoice_id):
        return {"id": invoice_id, "is_deleted": True, "client_id": "c-1"}

    recorded = reconcile.apply_payment(connection, payment(invoices={"inv-gone": "10.00", "inv-2": "50.00"}),
                                       fetch_invoice=fetch_invoice)
    assert [(p.external_id, p.amount) for p in recorded] == [("pay-1:inv-2", Decimal("50.00"))]
    assert state(second) == (Invoice.Status.PAID, Decimal("50.00"))
