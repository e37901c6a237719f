"""Journey: ERPNext as the read-only reference. Staff sync ERPNext from its page, open a company and see what
it owes according to ERPNext next to what the console says, with the difference highlighted; once the payment
is recorded in ERPNext (the sandbox) and synced again, both agree and nothing is highlighted."""

import re
import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import BACKGROUND_TIMEOUT_S, log_in, step
from tests.e2e.records import staff_user


def erpnext_site_with_a_customer_who_owes(sandbox_url):
    from apps.core.models import Connection
    from apps.erpnext.sandbox import state
    from apps.erpnext.sandbox.state import SandboxSite

    site = SandboxSite.objects.create(name="ERPNext e2e", api_key="e2ekey000000001", api_secret="e2esecret000001")
    state.save_document(site, "Customer", "CUST-2026-00002", {"customer_name": "Boulangerie Martin",
                                                              "default_currency": "EUR"})
    for name, amount, docstatus in (("ACC-SINV-2026-00010", 300.0, 1), ("ACC-SINV-2026-00011", 150.5, 1),
                                    ("ACC-SINV-2026-00012", 999.0, 2)):
        state.save_document(site, "Sales Invoice", name, {
            "customer": "CUST-2026-00002", "customer_name": "Boulangerie Martin", "currency": "EUR",
            "party_account_currency": "EUR", "grand_total": amount, "outstanding_amount": amount,
            "posting_date": "2026-10-01", "due_date": "2026-10-31", "docstatus": docstatus,
            "status": "Cancelled" if docstatus == 2 else "Overdue"})
    Connection.objects.create(provider="erpnext", name="ERPNext — référence", slug="e2e-erpnext",
                              base_url=f"{sandbox_url}/sandbox/erpnext",
                              secrets={"api_key": site.api_key, "api_secret": site.api_secret})


def company_the_console_says_owes_375_42():
    from apps.hub.models import Company, Invoice

    company = Company.objects.create(name="Boulangerie Martin", city="Bordeaux")
    invoice = Invoice.objects.create(company=company, number="FAC-E2E-001", status=Invoice.Status.SENT)
    invoice.lines.create(position=0, description="Viennoiseries (octobre)", quantity=1,
                         unit_price=Decimal("375.42"), tax_rate=Decimal("0"))
    invoice.recalculate_totals()
    return company


def sync_from_the_erpnext_page(page):
    page.goto("/erpnext/")
    page.get_by_role("button", name="Synchroniser maintenant").click()
    expect(page.get_by_text(re.compile(r"\d+ synchronisation\(s\) lancée\(s\)")),
           "the ERPNext page did not start the syncs").to_be_visible()


def reload_until(page, locator, what: str):
    deadline = time.monotonic() + BACKGROUND_TIMEOUT_S
    while not locator.count():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never appeared on {page.url} (the worker's sync did not land)")
        time.sleep(1)
        page.reload()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_company_shows_its_erp_outstanding_and_the_difference_with_the_console(page, console):
    erpnext_site_with_a_customer_who_owes(console.sandbox_url)
    company = company_the_console_says_owes_375_42()
    user = staff_user("lea", "view_console", "manage_connections")
    log_in(page, user)

    sync_from_the_erpnext_page(page)
    step(page, "erpnext page, sync started")

    page.goto(f"/admin/hub/company/{company.pk}/change/")
    panel = page.locator("#erpnext-panel")
    reload_until(page, panel.get_by_text("450,50 EUR"), "The ERP outstanding (300 + 150,50 EUR; the cancelled one not)")
    row = panel.locator("tr[data-currency='EUR']")
    expect(row.locator(".erpnext-erp-amount")).to_have_text("450,50 EUR")
    expect(row.locator(".erpnext-console-amount")).to_have_text("375,42 EUR")
    expect(row.locator("mark"), "the difference is not highlighted").to_have_text("75,08 EUR")
    expect(panel.get_by_text("Boulangerie Martin")).to_be_visible()
    step(page, "company page, ERP outstanding and the difference")

    page.goto(f"{console.sandbox_url}/sandbox/erpnext/")
    page.get_by_placeholder("ACC-SINV-…").fill("ACC-SINV-2026-00011")
    page.get_by_placeholder("Montant").fill("75,08")
    page.get_by_role("button", name="Enregistrer un paiement").click()
    expect(page.get_by_role("status")).to_have_text("Paiement enregistré.")
    step(page, "payment recorded in ERPNext")

    sync_from_the_erpnext_page(page)
    page.goto(f"/admin/hub/company/{company.pk}/change/")
    reload_until(page, panel.locator("tr.erpnext-agrees"), "ERPNext and the console agreeing after the payment")
    expect(panel.locator("tr[data-currency='EUR'] .erpnext-erp-amount")).to_have_text("375,42 EUR")
    expect(panel.locator("mark")).to_have_count(0)
    step(page, "company page, both agree")
