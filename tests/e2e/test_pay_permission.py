"""Journey 6: without the pay permission there is no "Payer via Revolut", and forging its POST is refused."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import action_control, log_in, post_as, step
from tests.e2e.records import staff_user, supplier_bill
from tests.e2e.revolut_steps import SANDBOX_DASHBOARD_PATH, connect_revolut

PAY = "Payer via Revolut"

# What the "Confirmer" button of a person allowed to pay sends: its URL and form fields, whatever the markup.
ACTION_REQUEST = """control => {
    const form = control.closest('form');
    const url = control.getAttribute('hx-post') || (form && (form.getAttribute('hx-post') || form.action));
    const data = {};
    if (form) new FormData(form).forEach((value, name) => { data[name] = value; });
    if (control.name) data[control.name] = control.value;
    return {url: url ? new URL(url, document.baseURI).href : null, data};
}"""


def payment_request_of_allowed_user(page, bill_path: str) -> dict:
    """Open the bill as someone allowed to pay, reach "Confirmer" (without clicking it), read what it would POST."""
    page.goto(bill_path)
    action_control(page, PAY).click()
    final = page.get_by_role("button", name="Confirmer")
    expect(final).to_be_visible()
    request = final.evaluate(ACTION_REQUEST)
    assert request["url"], "the payment's Confirmer posts nowhere"
    request["data"].pop("csrfmiddlewaretoken", None)  # the forger sends their own token
    return request


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_user_without_pay_permission_has_no_button_and_a_forged_post_is_refused(browsing, console, demo):
    from apps.core.models import ActionRun
    from apps.hub.models import Payment, SupplierBill
    from apps.revolut.models import RevolutPayment

    connect_revolut(browsing)
    bill = supplier_bill(Decimal("240.00"), reference="FAC-DURAND-0451")
    bill_path = f"/admin/hub/supplierbill/{bill.pk}/change/"

    # Someone who may look at bills but not pay them: the bill's page offers no way to pay it.
    viewer = browsing.new_page()
    log_in(viewer, staff_user("denis", "view_console"))
    viewer.goto(bill_path)
    expect(viewer.get_by_text(bill.reference).first).to_be_visible()
    action_bar = viewer.locator(".console-actions")
    expect(action_bar, "the bill page has no action bar at all").to_be_visible()
    expect(action_control(viewer, PAY), f'"{PAY}" is shown to a user without the pay permission').to_have_count(0)
    expect(action_bar, f'"{PAY}" is mentioned to a user without the pay permission').not_to_contain_text(PAY)
    step(viewer, "bill without pay button")

    # That person forges what a payer's "Confirmer" sends, with their own session and CSRF token...
    payer = browsing.new_page()
    log_in(payer, staff_user("capucine", "view_console", "pay_suppliers"))
    forged = payment_request_of_allowed_user(payer, bill_path)
    response = post_as(viewer, forged["url"], {name: str(value) for name, value in forged["data"].items()})
    body = response.text()
    assert response.status == 403, f"forged POST to {forged['url']} answered {response.status}: {body[:500]}"
    assert "CSRF" not in body, "refused by the CSRF check, not by the permission: the forgery was malformed"
    assert "la permission requise" in body, f"refused without saying why: {body[:500]}"

    # ...and nothing starts: no run, no payment, no transfer at the bank.
    assert not ActionRun.objects.exists(), f"the forged POST started {list(ActionRun.objects.all())}"
    assert not RevolutPayment.objects.exists(), "the forged POST reached Revolut"
    assert not Payment.objects.filter(supplier_bill=bill).exists()
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.TO_PAY
    payer.goto(console.sandbox_url + SANDBOX_DASHBOARD_PATH)
    expect(payer.locator("tr").filter(has_text=bill.reference), "money moved at the bank").to_have_count(0)
