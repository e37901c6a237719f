"""The ERPNext page (customer search, unpaid invoices by age per currency with a chart, stock with low levels
first) and the link between hub companies and ERPNext parties, shown on the company's own page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.erpnext.models import PartyLink
from apps.erpnext.sandbox import demo_data, state
from apps.hub.models import Company, Invoice, SupplierBill

from .conftest import run_sync, sync_everything

pytestmark = pytest.mark.django_db


def customer(site, name, label, tax_id="", currency="EUR"):
    state.save_document(site, "Customer", name, {"customer_name": label, "tax_id": tax_id,
                                                 "default_currency": currency})


def sales_invoice(site, name, party, outstanding, *, days_past_due=0, currency="EUR", docstatus=1):
    due = (timezone.localdate() - timedelta(days=days_past_due)).isoformat()
    state.save_document(site, "Sales Invoice", name, {
        "customer": party, "currency": currency, "party_account_currency": currency, "grand_total": outstanding,
        "outstanding_amount": outstanding, "due_date": due, "posting_date": due, "docstatus": docstatus,
        "status": "Overdue" if days_past_due > 0 else "Unpaid"})


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_links_by_tax_id_first_then_exact_name_and_ambiguous_names_wait_for_a_person(sandbox, staff):
    lumiere = Company.objects.create(name="Atelier Lumière SARL", vat_number="FR 40 123456789")
    martin = Company.objects.create(name="Boulangerie Martin")
    dupont = Company.objects.create(name="Cabinet Dupont Architectes")
    customer(sandbox.site, "CUST-1", "Atelier Lumière", tax_id="fr40123456789")
    customer(sandbox.site, "CUST-2", "boulangerie martin ")
    customer(sandbox.site, "CUST-3", "Cabinet Dupont Architectes")
    customer(sandbox.site, "CUST-4", "Cabinet Dupont Architectes")
    customer(sandbox.site, "CUST-5", "Inconnu SA")
    run_sync(sandbox.connection, "customers")
    links = {(l.company_id, l.party_name): (l.status, l.matched_by) for l in PartyLink.objects.all()}
    assert links[(lumiere.pk, "CUST-1")] == ("linked", "tax_id")
    assert links[(martin.pk, "CUST-2")] == ("linked", "name")
    assert links[(dupont.pk, "CUST-3")] == ("suggested", "name")
    assert links[(dupont.pk, "CUST-4")] == ("suggested", "name")
    assert len(links) == 4

    suggestion = PartyLink.objects.get(party_name="CUST-4")
    client = logged_in(staff)
    for _ in range(2):  # a double click confirms once
        response = client.post(reverse("erpnext:confirm_link", args=[suggestion.pk]))
        assert response.status_code == 302
    assert list(PartyLink.objects.filter(company=dupont).values_list("party_name", "status", "matched_by")) == [
        ("CUST-4", "linked", "user")]
    # A later sync does not undo what a person confirmed.
    state.save_document(sandbox.site, "Customer", "CUST-3", {"email_id": "new@dupont.example"})
    run_sync(sandbox.connection, "customers")
    assert PartyLink.objects.get(company=dupont, status="linked").party_name == "CUST-4"


def test_confirming_needs_the_permission_and_a_post(sandbox, staff):
    company = Company.objects.create(name="Cabinet Dupont Architectes")
    link = PartyLink.objects.create(connection=sandbox.connection, company=company, party_type="Customer",
                                    party_name="CUST-3", matched_by="name")
    assert logged_in(staff).get(reverse("erpnext:confirm_link", args=[link.pk])).status_code == 405
    staff.user_permissions.remove(*staff.user_permissions.filter(codename="change_company"))
    from django.contrib.auth.models import User

    response = logged_in(User.objects.get(pk=staff.pk)).post(reverse("erpnext:confirm_link", args=[link.pk]))
    assert response.status_code == 403
    link.refresh_from_db()
    assert link.status == "suggested"


def test_company_page_shows_erp_outstanding_next_to_the_console_and_highlights_the_difference(sandbox, staff):
    company = Company.objects.create(name="Boulangerie Martin")
    customer(sandbox.site, "CUST-2", "Boulangerie Martin")
    sales_invoice(sandbox.site, "SINV-1", "CUST-2", 300.0, days_past_due=5)
    sales_invoice(sandbox.site, "SINV-2", "CUST-2", 150.5)
    sales_invoice(sandbox.site, "SINV-3", "CUST-2", 999.0, docstatus=2)  # cancelled: never counts
    sync_everything(sandbox.connection)
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT, number="FAC-1")
    invoice.lines.create(position=0, description="Pain", quantity=1, unit_price=Decimal("375.42"),
                         tax_rate=Decimal("0"))
    invoice.recalculate_totals()

    page = logged_in(staff).get(reverse("admin:hub_company_change", args=[company.pk])).content.decode()
    assert 'class="erpnext-differs" data-currency="EUR"' in page
    assert "450,50 EUR" in page  # ERPNext: 300 + 150.50
    assert "375,42 EUR" in page  # the console
    assert "<mark role=\"status\">75,08 EUR</mark>" in page

    state.record_payment(sandbox.site, "SINV-2", Decimal("75.08"))
    run_sync(sandbox.connection, "sales_invoices")
    page = logged_in(staff).get(reverse("admin:hub_company_change", args=[company.pk])).content.decode()
    assert 'class="erpnext-agrees" data-currency="EUR"' in page and "<mark" not in page.split("erpnext-panel")[1]


def test_supplier_outstanding_is_compared_with_the_bills_to_pay(sandbox, staff):
    supplier = Company.objects.create(name="Imprimerie du Centre", is_client=False, is_supplier=True)
    SupplierBill.objects.create(supplier=supplier, reference="IMP-1", amount=Decimal("480.00"))
    state.save_document(sandbox.site, "Supplier", "SUP-1", {"supplier_name": "Imprimerie du Centre"})
    state.save_document(sandbox.site, "Purchase Invoice", "PINV-1", {
        "supplier": "SUP-1", "currency": "EUR", "grand_total": 480.0, "outstanding_amount": 480.0, "docstatus": 1})
    sync_everything(sandbox.connection)
    page = logged_in(staff).get(reverse("admin:hub_company_change", args=[supplier.pk])).content.decode()
    assert "Fournisseur ERPNext" in page and 'class="erpnext-agrees" data-currency="EUR"' in page


def test_hub_page_ages_unpaid_invoices_per_currency_and_draws_a_chart(sandbox, staff):
    customer(sandbox.site, "CUST-1", "Client A")
    sales_invoice(sandbox.site, "S-1", "CUST-1", 100.0)            # not yet due: 0-30
    sales_invoice(sandbox.site, "S-2", "CUST-1", 200.0, days_past_due=45)
    sales_invoice(sandbox.site, "S-3", "CUST-1", 300.0, days_past_due=75)
    sales_invoice(sandbox.site, "S-4", "CUST-1", 400.0, days_past_due=120)
    sales_invoice(sandbox.site, "S-5", "CUST-1", 50.0, days_past_due=91, currency="USD")
    sales_invoice(sandbox.site, "S-6", "CUST-1", 0.0, days_past_due=200)  # paid
    sync_everything(sandbox.connection)
    response = logged_in(staff).get(reverse("erpnext:hub"))
    ageing = {row.currency: row for row in response.context["ageing"]}
    assert ageing["EUR"].rows() == [("0-30", 1, Decimal("100")), ("31-60", 1, Decimal("200")),
                                    ("61-90", 1, Decimal("300")), ("90+", 1, Decimal("400"))]
    assert ageing["EUR"].total == Decimal("1000") and ageing["USD"].buckets["90+"] == Decimal("50")
    page = response.content.decode()
    assert page.count('<svg class="erpnext-chart"') == 2 and "<script" not in page.split("erpnext-hub")[1]
    bars = ageing["EUR"].chart()
    assert bars[3]["height"] > bars[2]["height"] > bars[1]["height"] > bars[0]["height"] > 0


def test_hub_page_searches_customers_and_highlights_low_stock(sandbox, staff):
    demo_data.populate(sandbox.site)
    sync_everything(sandbox.connection)
    client = logged_in(staff)
    found = client.get(reverse("erpnext:hub"), {"q": "lumi"}).context["customers"]
    assert [row["mirror"].payload["customer_name"] for row in found] == ["Atelier Lumière"]
    assert found[0]["link"] is None  # no hub company in this test
    by_tax = client.get(reverse("erpnext:hub"), {"q": "FR4012"}).context["customers"]
    assert [row["mirror"].payload["customer_name"] for row in by_tax] == ["Atelier Lumière"]
    stock = client.get(reverse("erpnext:hub")).context["stock"]
    low = [line for line in stock if line.is_low]
    assert low and all(line.actual < line.safety or line.actual <= 0 for line in low)
    assert stock.index(low[-1]) < len(low)  # low stock listed first
    page = client.get(reverse("erpnext:hub")).content.decode()
    assert page.count('class="erpnext-low-stock"') == len(low)
    # Someone who manages connections sees how to set up the optional webhooks.
    assert sandbox.connection.webhook_url() in page and "{{ doc.modified }}" in page


def test_hub_page_needs_a_staff_user(sandbox, django_user_model):
    user = django_user_model.objects.create_user("x", password="pw-x-123456")
    assert logged_in(user).get(reverse("erpnext:hub")).status_code == 403
