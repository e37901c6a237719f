"""A form never overwrites what an integration or another person wrote after it was opened."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.hub.models import Company, Quote, SupplierBill
from tests.hub.forms_in_tests import inline_management, opened_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def quote():
    company = Company.objects.create(name="Boulangerie Martin")
    quote = Quote.objects.create(company=company, title="Enseigne", issue_date="2026-11-02")
    quote.lines.create(description="Logo", quantity=1, unit_price=Decimal("950.00"))
    quote.recalculate_totals()
    return quote


def quote_form_data(quote, **overrides):
    return {"company": quote.company_id, "number": quote.number, "title": quote.title, "status": "draft",
            "issue_date": "2026-11-02", "valid_until": "", "currency": "EUR", "notes": "",
            **inline_management("lines"), **overrides}


def send_through_invoice_ninja(quote):
    """What the send action writes: the vendor's number and the sent status."""
    quote.number, quote.status = "Q-0001", Quote.Status.SENT
    quote.save()


def test_a_form_opened_before_a_send_is_refused_and_says_what_changed(admin_client, quote):
    opened_before = opened_form(admin_client, quote)
    send_through_invoice_ninja(quote)

    response = admin_client.post(reverse("admin:hub_quote_change", args=[quote.pk]),
                                 quote_form_data(quote, number="", title="Enseigne lumineuse", **opened_before))

    assert response.status_code == 200
    page = response.content.decode()
    assert "modifié depuis l&#x27;ouverture de ce formulaire" in page
    assert "Statut : « Brouillon » → « Envoyé »" in page
    assert "Numéro : « — » → « Q-0001 »" in page
    quote.refresh_from_db()
    assert (quote.status, quote.number, quote.title) == (Quote.Status.SENT, "Q-0001", "Enseigne")


def test_after_seeing_the_changes_saving_again_applies_the_input_to_the_current_version(admin_client, quote):
    opened_before = opened_form(admin_client, quote)
    send_through_invoice_ninja(quote)
    url = reverse("admin:hub_quote_change", args=[quote.pk])
    refused = admin_client.post(url, quote_form_data(quote, title="Enseigne lumineuse", **opened_before))
    shown_again = refused.context["adminform"].form["record_version"].value()

    saved = admin_client.post(url, quote_form_data(quote, title="Enseigne lumineuse", record_version=shown_again))

    assert saved.status_code == 302
    quote.refresh_from_db()
    assert (quote.status, quote.number, quote.title) == (Quote.Status.SENT, "Q-0001", "Enseigne lumineuse")


def test_status_and_vendor_number_are_never_written_by_the_form(admin_client, quote):
    send_through_invoice_ninja(quote)
    page = admin_client.get(reverse("admin:hub_quote_change", args=[quote.pk])).content.decode()
    assert 'name="status"' not in page and 'name="number"' not in page

    response = admin_client.post(reverse("admin:hub_quote_change", args=[quote.pk]), quote_form_data(
        quote, status="draft", number="FORGED", **opened_form(admin_client, quote)))

    assert response.status_code == 302
    quote.refresh_from_db()
    assert (quote.status, quote.number) == (Quote.Status.SENT, "Q-0001")


def test_a_change_written_without_touching_updated_at_is_caught_too(admin_client):
    supplier = Company.objects.create(name="Imprimerie du Centre", is_client=False, is_supplier=True)
    bill = SupplierBill.objects.create(supplier=supplier, reference="IMP-1", amount=Decimal("480.00"))
    opened_before = opened_form(admin_client, bill)
    SupplierBill.objects.filter(pk=bill.pk).update(status=SupplierBill.Status.PAYMENT_PENDING)  # as Revolut does

    response = admin_client.post(reverse("admin:hub_supplierbill_change", args=[bill.pk]), {
        "supplier": supplier.pk, "reference": "IMP-1", "description": "", "amount": "500.00", "currency": "EUR",
        "issue_date": "2026-11-02", "due_date": "", **opened_before})

    assert response.status_code == 200
    assert "« À payer » → « Paiement en cours »" in response.content.decode()
    bill.refresh_from_db()
    assert bill.amount == Decimal("480.00")
