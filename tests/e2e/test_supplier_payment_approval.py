"""Journey 4: a supplier bill above the approval threshold needs a second, different person before money moves."""

import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import expect

from tests.e2e.browsing import (
    BACKGROUND_TIMEOUT_S,
    assert_not_navigated,
    click_and_confirm,
    log_in,
    mark_page,
    post_as,
    step,
    totp_code,
    wait_for_live_sockets,
    wait_for_record_status,
)
from tests.e2e.records import staff_user, supplier_bill
from tests.e2e.revolut_steps import SANDBOX_DASHBOARD_PATH, complete_in_revolut_sandbox, connect_revolut

APPROVE = "Approuver"


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_payment_above_threshold_needs_a_second_approver(browsing, console, demo):
    from apps.core.models import ActionRun
    from apps.hub.models import Payment

    connect_revolut(browsing)
    bill = supplier_bill(settings.PAYMENT_APPROVAL_THRESHOLD + Decimal("500.00"), reference="FAC-DURAND-2291")
    # A may approve payments too: the rule is "someone else", not "someone with the permission".
    requester = staff_user("agathe", "view_console", "pay_suppliers", "approve_payments")
    approver = staff_user("bruno", "view_console", "approve_payments")
    bill_path = f"/admin/hub/supplierbill/{bill.pk}/change/"

    # A asks for the payment: confirmation screen, then the run waits for an approver, shown in place.
    page_a = browsing.new_page()
    log_in(page_a, requester)
    page_a.goto(bill_path)
    wait_for_live_sockets(page_a)
    mark_page(page_a)
    click_and_confirm(page_a, "Payer via Revolut", confirm=True)
    run_a = page_a.locator("[id^='action-run-']")
    expect(run_a).to_contain_text("En attente d'approbation")
    expect(page_a.get_by_role("button", name=APPROVE), "the requester is offered to approve their own payment"
           ).to_have_count(0)
    expect(run_a).to_contain_text("Un autre utilisateur habilité doit approuver cette demande.")
    assert_not_navigated(page_a)
    step(page_a, "payment awaiting approval")

    # A cannot release it alone, not even by sending the approval by hand.
    run = ActionRun.objects.get(object_id=str(bill.pk))
    refused = post_as(page_a, reverse("core:action_approve", args=[run.pk]))
    assert refused.status == 403, f"the requester's own approval answered {refused.status}: {refused.text()[:300]}"
    run.refresh_from_db()
    assert run.status == ActionRun.Status.PENDING_APPROVAL, f"the requester's approval moved the run to {run.status}"
    wait_for_record_status(page_a, "En attente d'approbation")  # the bill's status (this reloads A's page)
    assert not Payment.objects.filter(supplier_bill=bill).exists(), "a payment exists before any approval"
    bank = browsing.new_page()
    bank.goto(console.sandbox_url + SANDBOX_DASHBOARD_PATH)
    expect(bank.locator("tr").filter(has_text=bill.reference), "money moved before approval").to_have_count(0)

    # A keeps the bill open.
    wait_for_live_sockets(page_a)
    mark_page(page_a)

    # B opens the bill, finds the request waiting there, approves it; the run goes through in place.
    page_b = browsing.new_page()
    log_in(page_b, approver)
    page_b.goto(bill_path)
    wait_for_live_sockets(page_b)
    mark_page(page_b)
    run_b = page_b.locator(f"#action-run-{run.pk}")
    expect(run_b).to_contain_text("En attente d'approbation")
    # Releasing a payment above the threshold asks the approver for a fresh code of their authenticator.
    run_b.get_by_label(re.compile(r"^Nouveau code")).fill(totp_code(approver))
    run_b.get_by_role("button", name=APPROVE).click()
    expect(run_b).to_contain_text("Approuvé par bruno")
    step(page_b, "payment approved")
    expect(run_b, "the approved payment was not sent").to_contain_text("Réussie", timeout=BACKGROUND_TIMEOUT_S * 1000)
    assert_not_navigated(page_b)
    # A, who kept the bill open, sees the payment go out too.
    expect(page_a.locator(f"#action-run-{run.pk}")).to_contain_text("Réussie", timeout=BACKGROUND_TIMEOUT_S * 1000)
    assert_not_navigated(page_a)

    # The bank executes the transfer; the bill is paid, once.
    wait_for_record_status(page_b, "Paiement en cours")
    complete_in_revolut_sandbox(bank, console.sandbox_url, bill.reference)
    wait_for_record_status(page_b, "Payée")
    step(page_b, "bill paid")
    assert Payment.objects.filter(supplier_bill=bill).count() == 1
