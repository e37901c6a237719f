"""Amounts typed the French or the English way mean the same; ambiguous ones are refused; all read "1 200,40 €"."""

from decimal import Decimal

import pytest
from django import forms
from django.urls import reverse
from django.utils import translation

from apps.core.numbers import format_money, parse_decimal
from apps.hub.models import Company, Quote, SupplierBill
from tests.hub.forms_in_tests import inline_management, opened_form

NNBSP, NBSP = "\u202f", "\xa0"


@pytest.mark.parametrize("typed, expected", [
    ("123,45", Decimal("123.45")), ("123.45", Decimal("123.45")), ("1 234,56", Decimal("1234.56")),
    (f"1{NNBSP}234,5", Decimal("1234.5")), ("-12", Decimal("-12")), (" 7 ", Decimal("7")),
])
def test_a_decimal_comma_or_point_reads_the_same(typed, expected):
    assert parse_decimal(typed, 2) == expected


@pytest.mark.parametrize("typed", ["1.234,56", "1,234.56", "1,2,3", "12,", "1 2a", "abc", "1e3"])
def test_ambiguous_or_unreadable_numbers_are_refused_with_a_sentence(typed):
    with pytest.raises(forms.ValidationError) as refused:
        parse_decimal(typed, 2)
    assert "virgule ou un point pour les décimales" in str(refused.value)


def test_a_thousands_point_is_not_taken_for_decimals_in_an_amount():
    with pytest.raises(forms.ValidationError) as refused:
        parse_decimal("1.234", 2)
    assert "plus de 2 chiffres après la virgule" in str(refused.value)
    assert parse_decimal("1.234", 3) == Decimal("1.234")  # a quantity keeps three decimals


def test_amounts_read_the_french_way_and_the_english_way_in_english():
    assert format_money(Decimal("1200.4"), "EUR") == f"1{NNBSP}200,40{NBSP}€"
    with translation.override("en"):
        assert format_money(Decimal("1200.4"), "EUR") == "€1,200.40"


@pytest.mark.django_db
def test_a_supplier_bill_amount_typed_with_a_comma_is_saved_and_shown_back_in_french(admin_client):
    supplier = Company.objects.create(name="Imprimerie du Centre", is_client=False, is_supplier=True)
    bill = SupplierBill.objects.create(supplier=supplier, reference="IMP-1", amount=Decimal("480.00"))
    url = reverse("admin:hub_supplierbill_change", args=[bill.pk])
    data = {"supplier": supplier.pk, "reference": "IMP-1", "description": "", "currency": "EUR",
            "issue_date": "2026-11-02", "due_date": ""}

    refused = admin_client.post(url, {**data, "amount": "1,234.50", **opened_form(admin_client, bill)})
    assert refused.status_code == 200
    assert "n&#x27;est pas un nombre lisible sans ambiguïté" in refused.content.decode()

    saved = admin_client.post(url, {**data, "amount": "1 200,40", **opened_form(admin_client, bill)})
    assert saved.status_code == 302
    bill.refresh_from_db()
    assert bill.amount == Decimal("1200.40")
    assert 'value="1 200,40"' in admin_client.get(url).content.decode()
    listing = admin_client.get(reverse("admin:hub_supplierbill_changelist")).content.decode()
    assert f"1{NNBSP}200,40{NBSP}€" in listing


@pytest.mark.django_db
def test_quote_lines_typed_with_commas_give_the_right_total(admin_client):
    company = Company.objects.create(name="Boulangerie Martin")
    response = admin_client.post(reverse("admin:hub_quote_add"), {
        "company": company.pk, "number": "", "title": "Pose", "issue_date": "2026-11-02", "valid_until": "",
        "currency": "EUR", "notes": "", **inline_management("lines", total=1),
        "lines-0-position": "0", "lines-0-description": "Pose", "lines-0-quantity": "2,5",
        "lines-0-unit_price": "123,45", "lines-0-tax_rate": "5,5",
    })
    assert response.status_code == 302
    quote = Quote.objects.get(title="Pose")
    assert quote.subtotal == Decimal("308.63") and quote.total == Decimal("325.60")
    page = admin_client.get(reverse("admin:hub_quote_change", args=[quote.pk])).content.decode()
    assert f"325,60{NBSP}€" in page and 'value="2,5"' in page and 'value="123,45"' in page
