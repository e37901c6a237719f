"""The console home's webhook feed updates without a reload: stored on top, then its status in place."""

import threading

import pytest
from playwright.sync_api import expect

from tests.e2e.browsing import log_in, mark_page, assert_not_navigated, step, wait_for_live_sockets
from tests.e2e.records import staff_user


def send_from_a_worker_thread(signal, event):
    """Playwright's sync API runs an event loop in this thread; the inbox and workers send from plain threads."""
    from apps.core.models import WebhookEvent

    sender = threading.Thread(target=signal.send, kwargs={"sender": WebhookEvent, "event": event})
    sender.start()
    sender.join()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_webhook_appears_on_the_home_feed_live(page, console):
    from apps.core.models import Connection, WebhookEvent
    from apps.core.signals import webhook_event_processed, webhook_event_stored

    connection = Connection.objects.create(provider="invoiceninja", name="Invoice Ninja — Démo", slug="e2e-in")
    older = WebhookEvent.objects.create(connection=connection, provider="invoiceninja", event_type="older.event",
                                        status=WebhookEvent.Status.PROCESSED, body=b"{}")
    log_in(page, staff_user("camille", "view_console"))
    page.goto("/admin/")
    wait_for_live_sockets(page)
    mark_page(page)
    feed = page.locator("#webhook-feed > li")
    expect(feed).to_have_count(1)

    # The inbox sends these signals after commit; here the test process plays the inbox.
    event = WebhookEvent.objects.create(connection=connection, provider="invoiceninja", event_type="invoice.paid",
                                        status=WebhookEvent.Status.QUEUED, body=b"{}")
    send_from_a_worker_thread(webhook_event_stored, event)
    expect(feed).to_have_count(2)
    expect(feed.first).to_contain_text("invoice.paid")
    expect(feed.first).to_contain_text("En file")
    expect(feed.nth(1)).to_contain_text(older.event_type)

    event.status = WebhookEvent.Status.FAILED
    event.save(update_fields=["status"])
    send_from_a_worker_thread(webhook_event_processed, event)
    expect(feed.first).to_contain_text("Échec")
    expect(feed).to_have_count(2)
    assert_not_navigated(page)
    step(page, "live webhook feed")
