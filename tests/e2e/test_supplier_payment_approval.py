"""Journey 4: a supplier bill above the approval threshold needs a second, different person before money moves."""

import re
from decimal import Decimal

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.e2e.browsing import (
    click_and_confirm,
    log_in,
    record_status,
    step,
    wait_for_record_status,
)
from tests.e2e.records import staff_user, supplier_bill
from tests.e2e.revolut_steps import COMPLETE, SANDBOX_DASHBOARD_PATH, connect_revolut


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_payment_above_threshold_needs_a_second_approver(browsing, console, demo):
    from apps.hub.models import Payment

    connect_revolut(browsing)
    bill = supplier_bill(settings.PAYMENT_APPROVAL_THRESHOLD + Decimal("500.00"), reference="FAC-DURAND-2291")
    requester = staff_user("agathe", "view_console", "pay_suppliers")
    approver = staff_user("bruno", "view_console", "pay_suppliers", "approve_payments")
    bill_path = f"/admin/hub/supplierbill/{bill.pk}/change/"

    # A asks for the payment: confirmation screen, then it waits for an approver.
    page_a = browsing.new_page()
    log_in(page_a, requester)
    page_a.goto(bill_path)
    click_and_confirm(page_a, "Payer via Revolut", confirm=True)
    expect(page_a.locator("#content")).to_contain_text("En attente d'approbation")
    step(page_a, "payment awaiting approval")
    wait_for_record_status(page_a, "En attente d'approbation")
    expect(page_a.get_by_role("button", name="Approuver")).to_have_count(0)
    assert not Payment.objects.filter(supplier_bill=bill).exists(), "a payment exists before any approval"
    bank = browsing.new_page()
    bank.goto(console.sandbox_url + SANDBOX_DASHBOARD_PATH)
    expect(bank.locator("tr").filter(has_text=bill.reference), "money moved before approval").to_have_count(0)

    # B, another person allowed to approve, releases it.
    page_b = browsing.new_page()
    log_in(page_b, approver)
    page_b.goto(bill_path)
    page_b.get_by_role("button", name="Approuver").click()
    expect(page_b.locator("#content")).to_contain_text(re.compile(r"Approuvé par bruno"))
    step(page_b, "payment approved")

    # The bank moves it along by itself after a while; the bank's side may complete it sooner.
    wait_for_record_status(page_b, re.compile(r"^(Paiement en cours|Payée)$"))
    if record_status(page_b) == "Paiement en cours":
        bank.goto(console.sandbox_url + SANDBOX_DASHBOARD_PATH)
        complete = bank.locator("tr").filter(has_text=bill.reference).get_by_role("button", name=COMPLETE)
        if complete.count():  # not yet completed by the bank's own timer
            complete.click()
            step(bank, "transaction completed in the revolut sandbox")
    wait_for_record_status(page_b, "Payée")
    step(page_b, "bill paid")
    assert Payment.objects.filter(supplier_bill=bill).count() == 1
