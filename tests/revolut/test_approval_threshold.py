"""The second-approver threshold means money: compared in the reference currency, with a dated rate."""

import datetime
from decimal import Decimal

import pytest

from apps.core import actions
from apps.hub.models import Company, ExchangeRate, SupplierBill

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _threshold(settings):
    settings.PAYMENT_APPROVAL_THRESHOLD = Decimal("1000.00")
    settings.REFERENCE_CURRENCY = "EUR"


def bill(amount, currency):
    supplier = Company.objects.create(name="Tokyo Print", is_client=False, is_supplier=True)
    return SupplierBill.objects.create(supplier=supplier, reference="TP-1", amount=Decimal(amount), currency=currency)


def pay():
    return actions.get("revolut.pay_bill")


def test_a_euro_bill_is_compared_with_the_threshold_as_it_is():
    assert not pay().needs_approval(bill("1000.00", "EUR"), None)
    assert pay().needs_approval(bill("1000.01", "EUR"), None)


def test_without_a_rate_a_foreign_bill_needs_a_second_approver_and_says_why():
    small = bill("1000", "JPY")
    assert pay().needs_approval(small, None)  # 1 000 JPY weighs nothing like 1 000 EUR, but no rate: prudence
    rule = dict(pay().confirmation_details(small))["Approbation"]
    assert "Aucun taux JPY → EUR enregistré" in rule and "par prudence" in rule


def test_a_foreign_bill_is_converted_with_the_latest_dated_rate():
    ExchangeRate.objects.create(currency="JPY", rate=Decimal("0.0050"), valid_on=datetime.date(2026, 1, 2))
    ExchangeRate.objects.create(currency="JPY", rate=Decimal("0.0061"), valid_on=datetime.date(2026, 11, 30))
    under, over = bill("150000", "JPY"), bill("200000", "JPY")

    assert not pay().needs_approval(under, None)  # ≈ 915,00 €
    assert pay().needs_approval(over, None)  # ≈ 1 220,00 €
    rule = dict(pay().confirmation_details(over))["Approbation"]
    assert "≈ 1\u202f220,00\xa0€ au taux du 30/11/2026 (1 JPY = 0,0061 EUR)" in rule
    assert "au-delà du seuil de 1\u202f000,00\xa0€" in rule
