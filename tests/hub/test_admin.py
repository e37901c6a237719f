"""Hub admin pages: lists with number/status/client/total, search and filters, totals computed from lines."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.hub.models import Company, Contact, Invoice, Quote
from tests.hub.forms_in_tests import opened_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def company():
    return Company.objects.create(name="Boulangerie Martin", email="bonjour@martin.example")


def inline_management(prefix, total=0, initial=0):
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def test_quote_totals_are_computed_from_the_lines_on_save(admin_client, company):
    data = {
        "company": company.pk, "number": "DEV-7", "title": "Enseigne", "status": "draft", "issue_date": "2026-01-05",
        "valid_until": "", "currency": "EUR", "notes": "",
        **inline_management("lines", total=2),
        "lines-0-position": "0", "lines-0-description": "Logo", "lines-0-quantity": "1",
        "lines-0-unit_price": "950.00", "lines-0-tax_rate": "20",
        "lines-1-position": "1", "lines-1-description": "Pose", "lines-1-quantity": "2.5",
        "lines-1-unit_price": "33.33", "lines-1-tax_rate": "5.5",
        # A total typed by hand is ignored: totals are read-only.
        "total": "1.00",
    }
    response = admin_client.post(reverse("admin:hub_quote_add"), data)
    assert response.status_code == 302, response.context["adminform"].errors if response.context else response
    quote = Quote.objects.get(number="DEV-7")
    assert quote.subtotal == Decimal("1033.33")  # 950 + 83.325 rounded half up
    assert quote.tax_total == Decimal("194.58")  # 190.00 + 4.58
    assert quote.total == Decimal("1227.91")


def test_quote_list_shows_number_status_client_total_and_searches(admin_client, company):
    Quote.objects.create(company=company, number="DEV-42", total=Decimal("120.00"))
    Quote.objects.create(company=Company.objects.create(name="Autre"), number="DEV-43")
    page = admin_client.get(reverse("admin:hub_quote_changelist"), {"q": "Martin"}).content.decode()
    assert "DEV-42" in page and "Boulangerie Martin" in page and "120,00\xa0€" in page and "Brouillon" in page
    assert "DEV-43" not in page
    filtered = admin_client.get(reverse("admin:hub_quote_changelist"), {"status__exact": "accepted"}).content.decode()
    assert "DEV-42" not in filtered


def test_invoice_change_form_has_lines_and_read_only_totals(admin_client, company):
    invoice = Invoice.objects.create(company=company, number="FAC-1")
    invoice.lines.create(description="Maintenance", quantity=12, unit_price=Decimal("85.00"))
    invoice.recalculate_totals()
    page = admin_client.get(reverse("admin:hub_invoice_change", args=[invoice.pk])).content.decode()
    assert 'name="lines-0-description"' in page
    assert 'id="id_total"' not in page and "1\u202f224,00\xa0€" in page  # read-only, French number format


def test_company_admin_has_contacts_inline_and_search_by_contact(admin_client, company):
    Contact.objects.create(company=company, first_name="Paul", last_name="Martin", email="paul@martin.example")
    page = admin_client.get(reverse("admin:hub_company_change", args=[company.pk])).content.decode()
    assert 'name="contacts-0-email"' in page
    found = admin_client.get(reverse("admin:hub_company_changelist"), {"q": "paul@martin.example"}).content.decode()
    assert "Boulangerie Martin" in found


def test_supplier_bill_and_payment_lists_render(admin_client):
    assert admin_client.get(reverse("admin:hub_supplierbill_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:hub_payment_changelist")).status_code == 200


def test_a_supplier_bill_cannot_be_marked_paid_by_hand(admin_client):
    from apps.hub.models import SupplierBill

    supplier = Company.objects.create(name="Imprimerie du Centre", is_client=False, is_supplier=True)
    bill = SupplierBill.objects.create(supplier=supplier, reference="IMP-1", amount=Decimal("480.00"))
    response = admin_client.post(reverse("admin:hub_supplierbill_change", args=[bill.pk]), {
        "supplier": supplier.pk, "reference": "IMP-1", "description": "", "amount": "480.00", "currency": "EUR",
        "issue_date": "2026-11-02", "due_date": "", "status": "paid", **opened_form(admin_client, bill),
    })
    assert response.status_code == 302
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.TO_PAY
    assert "Voir sur le site" not in admin_client.get(reverse("admin:hub_supplierbill_change", args=[bill.pk])).content.decode()


def test_the_payment_list_does_not_query_per_row(admin_client):
    from django.db import connection as db_connection
    from django.test.utils import CaptureQueriesContext

    from apps.hub.models import Payment, SupplierBill

    def add_outgoing_payment(n):
        supplier = Company.objects.create(name=f"Fournisseur {n}", is_client=False, is_supplier=True)
        bill = SupplierBill.objects.create(supplier=supplier, reference=f"F-{n}", amount=Decimal("10.00"))
        Payment.objects.create(direction=Payment.Direction.OUTGOING, supplier_bill=bill, amount=Decimal("10.00"),
                               source="revolut", external_id=f"tx-{n}")

    def queries():
        with CaptureQueriesContext(db_connection) as captured:
            assert admin_client.get(reverse("admin:hub_payment_changelist")).status_code == 200
        return len(captured)

    add_outgoing_payment(0)
    with_one = queries()
    for n in range(1, 5):
        add_outgoing_payment(n)
    assert queries() == with_one
