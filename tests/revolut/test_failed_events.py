"""Webhooks Revolut gave up on: the emulator retries 3 times then lists them under failed-events; the
reconciliation job stores them through the inbox, once, and the usual handlers process them."""

import json
import time
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests
from django.utils import timezone

from apps.core import actions
from apps.core.http import ClientError
from apps.core.models import ActionRun, Connection, TimelineEntry, WebhookEvent
from apps.hub.models import SupplierBill
from apps.revolut import jobs, sandbox_state, webhook_registration
from apps.revolut.actions import PayBillViaRevolut
from apps.revolut.client import RevolutClient, error_code
from apps.revolut.models import RevolutPayment
from apps.revolut.sandbox_models import SandboxAccount, SandboxWebhookDelivery
from tests import workers
from tests.revolut.conftest import OUTAGES, user_with

pytestmark = pytest.mark.django_db

FAILED_EVENT_FIELDS = {"id", "created_at", "updated_at", "webhook_id", "webhook_url", "payload", "last_sent_date"}


@pytest.fixture
def hooked(emulated, settings):
    """The emulated connection with its webhook registered; retries without waiting unless a test says so."""
    settings.REVOLUT_SANDBOX_RETRY_SECONDS = 0
    webhook_registration.register(emulated)
    emulated.refresh_from_db()
    return emulated


def endpoint_path(connection) -> str:
    return urlsplit(connection.webhook_url()).path


def deliveries_to(api, connection) -> int:
    return sum(1 for call in api.calls if call.request.url == connection.webhook_url())


def topup(amount="50", reference="Top-up"):
    account = SandboxAccount.objects.get(currency="EUR")
    return sandbox_state.topup(account=account, amount=Decimal(amount), currency="EUR", reference=reference)


def failed_events(connection, **params):
    return RevolutClient(connection).list_failed_webhook_events(connection.config["webhook"]["id"], **params)


def run_webhook_jobs():
    workers.run_jobs("webhooks")


# The emulator ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("outage", [503, "no answer"])
def test_a_delivery_refused_four_times_is_listed_by_failed_events(hooked, bank, outage,
                                                                  django_capture_on_commit_callbacks):
    OUTAGES[endpoint_path(hooked)] = outage
    with django_capture_on_commit_callbacks(execute=True):
        tx = topup()
    assert deliveries_to(bank, hooked) == 4  # the first attempt and 3 retries
    assert not WebhookEvent.objects.exists()

    [item] = failed_events(hooked)
    assert set(item) == FAILED_EVENT_FIELDS
    assert (item["webhook_id"], item["webhook_url"]) == (hooked.config["webhook"]["id"], hooked.webhook_url())
    assert item["payload"]["event"] == "TransactionCreated" and item["payload"]["data"]["id"] == str(tx.id)
    assert item["last_sent_date"] >= item["created_at"]


def test_a_retry_waits_for_its_delay_and_a_later_success_is_not_listed(hooked, bank, settings,
                                                                       django_capture_on_commit_callbacks):
    settings.REVOLUT_SANDBOX_RETRY_SECONDS = 600
    OUTAGES[endpoint_path(hooked)] = 503
    with django_capture_on_commit_callbacks(execute=True):
        topup()
    RevolutClient(hooked).list_accounts()  # an API request sends the retries that are due: none yet
    assert deliveries_to(bank, hooked) == 1
    delivery = SandboxWebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert timedelta(seconds=590) < delivery.next_attempt_at - timezone.now() <= timedelta(seconds=600)

    OUTAGES.clear()  # the console is back; ten minutes go by
    SandboxWebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        RevolutClient(hooked).list_accounts()
    assert deliveries_to(bank, hooked) == 2
    assert SandboxWebhookDelivery.objects.get().state == "delivered"
    assert WebhookEvent.objects.get().event_type == "TransactionCreated"
    assert failed_events(hooked) == []


def test_failed_events_pages_with_limit_and_created_before_like_revolut(hooked, django_capture_on_commit_callbacks):
    OUTAGES[endpoint_path(hooked)] = 503
    for reference in ("first", "second", "third"):
        with django_capture_on_commit_callbacks(execute=True):
            topup(reference=reference)
    newest = failed_events(hooked, limit=2)
    assert [item["payload"]["data"]["reference"] for item in newest] == ["third", "second"]
    older = failed_events(hooked, limit=2, created_before=newest[-1]["created_at"])
    assert [item["payload"]["data"]["reference"] for item in older] == ["first"]

    client = RevolutClient(hooked)
    hook_id = hooked.config["webhook"]["id"]
    for params in ({"limit": 0}, {"limit": 1001}, {"created_before": timezone.now() - timedelta(days=22)},
                   {"created_before": "yesterday"}):
        with pytest.raises(ClientError) as refused:
            client.get(client.v2(f"webhooks/{hook_id}/failed-events"), params=params)
        assert (refused.value.status, error_code(refused.value)) == (400, 2101), params
    with pytest.raises(ClientError) as unknown:
        client.list_failed_webhook_events("1b9e4c55-0000-4000-8000-000000000000")
    assert (unknown.value.status, error_code(unknown.value)) == (404, 3040)


# The console -----------------------------------------------------------------------------------------------------
def test_a_webhook_lost_while_the_console_was_down_is_recovered_once_by_the_reconcile_job(
    hooked, bank, supplier, django_capture_on_commit_callbacks
):
    jobs.refresh_connection_balances(hooked.pk)
    bill = SupplierBill.objects.create(supplier=supplier, reference="IMP-2026-0500", amount=Decimal("480.00"))
    run, _ = actions.start(actions.get(PayBillViaRevolut.key), bill, user_with("comptable", "pay_suppliers"), "k1")
    with django_capture_on_commit_callbacks(execute=True):
        actions.execute(run.pk)
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    payment = RevolutPayment.objects.get(bill=bill)
    run_webhook_jobs()  # its TransactionCreated arrived and is handled
    received_before = WebhookEvent.objects.count()

    # The console answers 503 while Revolut reports the completion: 4 tries, then Revolut gives up.
    OUTAGES[endpoint_path(hooked)] = 503
    with django_capture_on_commit_callbacks(execute=True):
        RevolutClient(hooked).simulate_transaction(payment.transaction_id, "complete")
    assert [i["payload"]["event"] for i in failed_events(hooked)] == ["TransactionStateChanged"]
    assert WebhookEvent.objects.count() == received_before
    assert SupplierBill.objects.get(pk=bill.pk).status == SupplierBill.Status.PAYMENT_PENDING

    OUTAGES.clear()
    with django_capture_on_commit_callbacks(execute=True):
        summary = jobs.reconcile_transactions()
    assert summary["recovered"] == 1
    run_webhook_jobs()
    event = WebhookEvent.objects.get(event_type="TransactionStateChanged")
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.provider_event_id == f"TransactionStateChanged:{payment.transaction_id}:completed"
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAID
    assert TimelineEntry.objects.filter(object_id=str(bill.pk), webhook_event=event,
                                        message__contains="exécuté").count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.reconcile_transactions()["recovered"] == 0
    assert WebhookEvent.objects.count() == received_before + 1
    assert "failed_events_until" in Connection.objects.get(pk=hooked.pk).config["webhook"]


def test_a_failed_event_that_did_arrive_after_all_is_not_stored_or_processed_again(
    hooked, django_capture_on_commit_callbacks
):
    OUTAGES[endpoint_path(hooked)] = 503
    with django_capture_on_commit_callbacks(execute=True):
        topup()
    [item] = failed_events(hooked)
    OUTAGES.clear()
    # The same event reaches the endpoint anyway (signed, over HTTP) before the reconciliation runs.
    body = json.dumps(item["payload"], separators=(",", ":")).encode()
    timestamp = str(int(time.time() * 1000))
    with django_capture_on_commit_callbacks(execute=True):
        answer = bank_post(hooked, body, timestamp)
    assert answer.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.reconcile_transactions()["recovered"] == 0
    assert WebhookEvent.objects.count() == 1


def bank_post(connection, body: bytes, timestamp: str):
    signature = sandbox_state.sign(connection.webhook_secrets[0], timestamp, body)
    return requests.post(connection.webhook_url(), data=body, timeout=5, headers={
        "Content-Type": "application/json", "Revolut-Request-Timestamp": timestamp, "Revolut-Signature": signature})
