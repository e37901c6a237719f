"""What was sent is changed only through an explicit new version; what was paid never changes."""

import re
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse

from apps.core.models import TimelineEntry
from apps.hub.models import Company, Invoice, LockedDocument, Quote, lines_from_vendor
from tests.hub.forms_in_tests import inline_management, opened_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def company():
    return Company.objects.create(name="Boulangerie Martin")


def document_with_a_line(model, company, status, **fields):
    document = model.objects.create(company=company, number="D-1", issue_date="2026-11-02", **fields)
    line = document.lines.create(description="Maintenance", quantity=12, unit_price=Decimal("100.00"))
    document.recalculate_totals()
    model.objects.filter(pk=document.pk).update(status=status)
    document.refresh_from_db()
    return document, line


def invoice_form_data(invoice, line, unit_price, **hidden):
    return {"company": invoice.company_id, "quote": "", "number": invoice.number, "title": "",
            "issue_date": "2026-11-02", "due_date": "", "currency": "EUR", "notes": "", **inline_management("lines", total=1, initial=1),
            "lines-0-id": line.pk, "lines-0-invoice": invoice.pk, "lines-0-position": "0",
            "lines-0-description": "Maintenance", "lines-0-quantity": "12", "lines-0-unit_price": unit_price,
            "lines-0-tax_rate": "20", **hidden}


def test_a_paid_invoice_shows_its_lines_read_only_and_ignores_posted_prices(admin_client, company):
    invoice, line = document_with_a_line(Invoice, company, Invoice.Status.PAID, amount_paid=Decimal("1440.00"))
    url = reverse("admin:hub_invoice_change", args=[invoice.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="lines-0-unit_price"' not in page
    assert "ses lignes et ses prix ne changent plus" in page
    assert "Nouvelle version" not in page
    assert re.search(r'class="field-quantity_shown"[^>]*>\s*<p>12</p>', page)  # not "12,000"
    assert re.search(r'class="field-unit_price_shown"[^>]*>\s*<p>100,00\xa0€</p>', page)

    admin_client.post(url, invoice_form_data(invoice, line, "1.00", **opened_form(admin_client, invoice)))

    line.refresh_from_db()
    invoice.refresh_from_db()
    assert line.unit_price == Decimal("100.00") and invoice.total == Decimal("1440.00")


def test_a_paid_invoice_line_is_refused_at_model_level_but_the_vendor_copy_is_written(company):
    invoice, line = document_with_a_line(Invoice, company, Invoice.Status.PAID)
    line.unit_price = Decimal("1.00")
    with pytest.raises(LockedDocument), transaction.atomic():
        line.save()
    with pytest.raises(LockedDocument), transaction.atomic():
        invoice.lines.all().delete()
    with lines_from_vendor():
        line.save()
    line.refresh_from_db()
    assert line.unit_price == Decimal("1.00")


def test_a_sent_quote_changes_its_lines_only_after_a_recorded_new_version(admin_client, company):
    quote, line = document_with_a_line(Quote, company, Quote.Status.SENT)
    url = reverse("admin:hub_quote_change", args=[quote.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="lines-0-unit_price"' not in page
    assert "ses lignes sont verrouillées" in page

    confirmation = admin_client.get(reverse("admin:hub_quote_new_version", args=[quote.pk]))
    assert "Ouvrir une nouvelle version" in confirmation.content.decode()
    quote.refresh_from_db()
    assert quote.lines_reopened_at is None  # asking is not doing

    admin_client.post(reverse("admin:hub_quote_new_version", args=[quote.pk]))

    entry = TimelineEntry.objects.get(object_id=str(quote.pk))
    assert "Nouvelle version ouverte par" in entry.message
    page = admin_client.get(url).content.decode()
    assert 'name="lines-0-unit_price"' in page


def test_a_converted_quote_cannot_open_a_new_version(admin_client, company):
    quote, _line = document_with_a_line(Quote, company, Quote.Status.CONVERTED)
    admin_client.post(reverse("admin:hub_quote_new_version", args=[quote.pk]))
    quote.refresh_from_db()
    assert quote.lines_reopened_at is None


def test_lines_show_their_totals(admin_client, company):
    quote, _line = document_with_a_line(Quote, company, Quote.Status.DRAFT)
    page = admin_client.get(reverse("admin:hub_quote_change", args=[quote.pk])).content.decode()
    assert re.search(r'class="field-line_total"[^>]*>\s*<p>1\u202f200,00\xa0€</p>', page)
