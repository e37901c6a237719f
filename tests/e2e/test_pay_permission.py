"""Journey 6: without the pay permission there is no "Payer via Revolut", and forging its POST is refused."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import action_control, csrf_token, log_in, step
from tests.e2e.records import staff_user, supplier_bill
from tests.e2e.revolut_steps import connect_revolut

# What the button of a person allowed to pay would send: its URL and form fields, whatever the markup.
ACTION_REQUEST = """control => {
    const form = control.closest('form');
    const url = control.getAttribute('hx-post') || (form && (form.getAttribute('hx-post') || form.action));
    const data = {};
    if (form) new FormData(form).forEach((value, name) => { data[name] = value; });
    if (control.name) data[control.name] = control.value;
    const vals = control.closest('[hx-vals]');
    if (vals) Object.assign(data, JSON.parse(vals.getAttribute('hx-vals')));
    return {url: url ? new URL(url, document.baseURI).href : null, data};
}"""


def payment_request_of_allowed_user(page, bill_path: str) -> dict:
    """Open the bill as someone allowed to pay, reach the final "Confirmer", and read what it would POST."""
    page.goto(bill_path)
    control = action_control(page, "Payer via Revolut")
    expect(control).to_be_enabled()
    page.once("dialog", lambda dialog: dialog.dismiss())
    if control.get_attribute("hx-post") or control.evaluate("c => c.tagName === 'BUTTON'"):
        final = control  # no separate confirmation step
    else:
        control.click()
        final = page.get_by_role("button", name="Confirmer")
        expect(final).to_be_visible()
    request = final.evaluate(ACTION_REQUEST)
    assert request["url"], "the payment control posts nowhere"
    request["data"].pop("csrfmiddlewaretoken", None)  # the forger sends their own token
    return request


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_user_without_pay_permission_has_no_button_and_a_forged_post_is_refused(browsing, console, demo):
    from apps.core.models import ActionRun
    from apps.hub.models import Payment, SupplierBill

    connect_revolut(browsing)
    bill = supplier_bill(Decimal("240.00"), reference="FAC-DURAND-0451")
    bill_path = f"/admin/hub/supplierbill/{bill.pk}/change/"
    payer = browsing.new_page()
    log_in(payer, staff_user("capucine", "view_console", "pay_suppliers"))
    forged = payment_request_of_allowed_user(payer, bill_path)

    # Someone who may look at bills but not pay them forges what that button would send...
    viewer = browsing.new_page()
    log_in(viewer, staff_user("denis", "view_console"))
    response = viewer.request.post(
        forged["url"],
        form={name: str(value) for name, value in forged["data"].items()},
        headers={
            "X-CSRFToken": csrf_token(viewer),
            "HX-Request": "true",
            "Origin": console.url,
            "Referer": console.url + bill_path,
        },
        max_redirects=0,
    )
    body = response.text()
    assert response.status == 403, f"forged POST to {forged['url']} answered {response.status}: {body[:500]}"
    assert "CSRF" not in body, "refused by the CSRF check, not by the permission: the forgery was malformed"

    # ...and nothing starts.
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.TO_PAY
    assert not ActionRun.objects.filter(object_id=str(bill.pk), action__icontains="revolut").exists()
    assert not Payment.objects.filter(supplier_bill=bill).exists()

    # On the bill's page that person is offered no way to pay it.
    viewer.goto(bill_path)
    expect(viewer.get_by_text(bill.reference).first).to_be_visible()
    expect(action_control(viewer, "Payer via Revolut")).to_have_count(0)
    step(viewer, "bill without pay button")
