"""Journey 5: an admin finds the Revolut webhook of a completed payment in the log, replays it: no second effect."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import log_in, record_field, step, wait_for_record_fields, wait_for_record_status
from tests.e2e.records import staff_user, supplier_bill
from tests.e2e.revolut_steps import connect_revolut, open_live_balances, watch_balance_move_live

STATE_CHANGED = "TransactionStateChanged"
STATE_CHANGED_LABEL = "État de transaction changé"  # how the log lists it


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_replaying_a_processed_webhook_has_no_second_effect(browsing, console, demo):
    from apps.core.models import WebhookEvent
    from apps.hub.models import Payment

    connect_revolut(browsing)
    bill = supplier_bill(Decimal("95.00"), reference="FAC-DURAND-0733")
    # Journey 3: the payment completes at the bank and its webhook moves the open balances page.
    balances_after_payment = watch_balance_move_live(browsing, console, bill)

    # An admin looks for that webhook in the log, by system.
    admin = staff_user("alix", "view_console", "view_balances", "replay_webhooks")
    log = browsing.new_page()
    log_in(log, admin)
    log.goto("/admin/core/webhookevent/")
    log.locator("#changelist-filter").get_by_role("link", name="Revolut Business", exact=True).click()
    expect(log).to_have_url(re.compile(r"provider=revolut"))
    row = log.locator("#result_list tbody tr").filter(has_text=STATE_CHANGED_LABEL).first
    expect(row, f"no {STATE_CHANGED} webhook in the log filtered on Revolut").to_be_visible()
    expect(row).to_contain_text("Traité")
    step(log, "webhook log filtered on revolut")

    row.get_by_role("link").first.click()
    expect(log).to_have_url(re.compile(r"/admin/core/webhookevent/\d+/change/"))
    event = WebhookEvent.objects.get(pk=int(re.search(r"/webhookevent/(\d+)/", log.url).group(1)))
    assert (event.provider, event.event_type) == ("revolut", STATE_CHANGED)
    expect(log.locator("pre.webhook-payload")).to_contain_text('"new_state": "completed"')
    attempts_before = int(record_field(log, "attempts"))
    payments_before = Payment.objects.count()
    step(log, "webhook detail")

    # "Rejouer" on the detail page: queued again, processed again...
    log.get_by_role("button", name="Rejouer", exact=True).click()
    expect(log).to_have_url(re.compile(rf"/admin/core/webhookevent/{event.pk}/change/"))
    expect(log.locator(".messagelist"), '"Rejouer" did not say the webhook was queued again').to_contain_text(
        "1 webhook remis en file."
    )
    step(log, "webhook replayed")
    wait_for_record_fields(log, {"status": "Traité", "attempts": str(attempts_before + 1)})
    step(log, "webhook processed again")

    # ...and nothing happens twice: same balances, no second payment, the bill still paid.
    assert open_live_balances(log) == balances_after_payment, "the replay moved a balance"
    step(log, "balances unchanged after replay")
    assert Payment.objects.count() == payments_before, "the replay recorded another payment"
    assert Payment.objects.filter(supplier_bill=bill).count() == 1
    log.goto(f"/admin/hub/supplierbill/{bill.pk}/change/")
    wait_for_record_status(log, "Payée", timeout=0)
    step(log, "bill still paid")
