"""Journey 5: an admin finds the Revolut webhook of a completed payment in the log, replays it: no second effect."""

import re
import time
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import BACKGROUND_TIMEOUT_S, action_control, log_in, step
from tests.e2e.records import staff_user, supplier_bill
from tests.e2e.revolut_steps import connect_revolut, open_live_balances, watch_balance_move_live

STATE_CHANGED = "TransactionStateChanged"


def replay_from_log(page, event_pk: int) -> None:
    """"Rejouer" on the event's page if it has the button, else the log's "Rejouer" action on that row."""
    replay_here = action_control(page, "Rejouer")
    if replay_here.count():
        page.on("dialog", lambda dialog: dialog.accept())
        replay_here.first.click()
        confirm = page.get_by_role("button", name=re.compile(r"^(Confirmer|Oui)"))
        if confirm.count():
            confirm.first.click()
        return
    page.goto("/admin/core/webhookevent/?provider=revolut")
    page.locator(f'input[name="_selected_action"][value="{event_pk}"]').check()
    page.locator('select[name="action"]').select_option(label="Rejouer")
    page.get_by_role("button", name=re.compile(r"^(Exécuter|Envoyer)$")).click()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_replaying_a_processed_webhook_has_no_second_effect(browsing, console, demo):
    from apps.core.models import WebhookEvent
    from apps.hub.models import Payment

    connect_revolut(browsing)
    bill = supplier_bill(Decimal("95.00"), reference="FAC-DURAND-0733")
    balances_after_payment = watch_balance_move_live(browsing, console, bill)

    # The webhook that moved the balance, as the log shows it.
    deadline = time.monotonic() + BACKGROUND_TIMEOUT_S
    while not (event := WebhookEvent.objects.filter(
        provider="revolut", event_type=STATE_CHANGED, status=WebhookEvent.Status.PROCESSED
    ).order_by("-id").first()):
        assert time.monotonic() < deadline, f"no processed Revolut {STATE_CHANGED} webhook was stored"
        time.sleep(0.5)
    payments_before = Payment.objects.count()
    attempts_before = event.attempts

    admin = staff_user("alix", "view_console", "view_balances", "replay_webhooks")
    log = browsing.new_page()
    log_in(log, admin)
    log.goto("/admin/core/webhookevent/")
    log.locator("#changelist-filter").get_by_role("link", name="Revolut Business", exact=True).click()
    expect(log).to_have_url(re.compile(r"provider=revolut"))
    row = log.locator("#result_list tbody tr").filter(has_text=STATE_CHANGED).first
    expect(row).to_be_visible()
    step(log, "webhook log filtered on revolut")
    row.get_by_role("link").first.click()
    expect(log).to_have_url(re.compile(rf"/admin/core/webhookevent/{event.pk}/"))
    expect(log.locator("pre.webhook-payload")).to_contain_text(STATE_CHANGED)
    step(log, "webhook detail")

    replay_from_log(log, event.pk)
    expect(log.locator(".messagelist")).to_contain_text(re.compile(r"rejou|remis en file", re.I))
    step(log, "webhook replayed")

    # The replay really ran again...
    deadline = time.monotonic() + BACKGROUND_TIMEOUT_S
    while True:
        event.refresh_from_db()
        if event.attempts > attempts_before and event.status == WebhookEvent.Status.PROCESSED:
            break
        assert time.monotonic() < deadline, (
            f"the replayed webhook did not finish processing: status {event.status}, attempts {event.attempts}, "
            f"error {event.last_error!r}"
        )
        time.sleep(0.5)
    # ...and changed nothing: same balances, no second payment, the bill paid once.
    balances = browsing.new_page()
    log_in(balances, admin)
    assert open_live_balances(balances) == balances_after_payment
    step(balances, "balances unchanged after replay")
    assert Payment.objects.count() == payments_before
    assert Payment.objects.filter(supplier_bill=bill).count() == 1
