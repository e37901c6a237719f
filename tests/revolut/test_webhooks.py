"""Revolut webhooks v2: the kernel's security suite, the vendor's vectors, dedupe keys and the handlers."""

import hashlib
import hmac
import json
import time
import uuid
from decimal import Decimal

import pytest
from django.test import Client

from apps.core.models import TimelineEntry, WebhookEvent
from apps.core.webhooks.processing import process_event
from apps.hub.models import Payment, SupplierBill
from apps.revolut import webhooks
from apps.revolut.models import RevolutPayment, RevolutTransaction
from tests.core.webhook_security import WebhookSecuritySuite
from tests.contracts import CONTRACTS
from tests.revolut.conftest import COUNTERPARTY_ID, EUR_ACCOUNT_ID, make_connection

VECTORS = CONTRACTS / "revolut" / "webhook-signature-vectors.json"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), f"v1.{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def state_changed(tx_id=None, new_state="completed", request_id="req-1") -> bytes:
    return json.dumps({"event": "TransactionStateChanged", "timestamp": "2026-03-02T10:00:00.000000Z",
                       "data": {"id": tx_id or str(uuid.uuid4()), "request_id": request_id,
                                "old_state": "pending", "new_state": new_state}}, separators=(",", ":")).encode()


class TestRevolutWebhookSecurity(WebhookSecuritySuite):
    provider_key = "revolut"
    signature_headers = ("Revolut-Signature", "Revolut-Request-Timestamp")
    has_timestamp = True

    def make_connection(self, webhook_secrets):
        return make_connection("https://sandbox-b2b.revolut.com/api/1.0", webhook_secrets=webhook_secrets)

    def now(self):
        return time.time()

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        body = state_changed() if body is None else body
        ts = str(int((self.now() if timestamp is None else timestamp) * 1000))
        return body, {"Revolut-Request-Timestamp": ts, "Revolut-Signature": sign(secret, ts, body)}


def test_documented_vectors_verify_with_the_provider_verifier():
    data = json.loads(VECTORS.read_text())
    verifier = webhooks.verifier(None)
    verifier.clock = lambda: int(data["timestamp_header"]) / 1000
    for vector in data["vectors"]:
        headers = {"Revolut-Request-Timestamp": data["timestamp_header"],
                   "Revolut-Signature": vector["expected_signature"]}
        verifier.verify(headers, vector["raw_body"].encode(), [data["signing_secret"]])


@pytest.mark.django_db
def test_several_signatures_during_rotation_any_match_passes(client):
    connection = make_connection("https://sandbox-b2b.revolut.com/api/1.0", webhook_secrets=["wsk_new_0123456789"])
    body = state_changed()
    ts = str(int(time.time() * 1000))
    header = f"{sign('wsk_old_0123456789', ts, body)},{sign('wsk_new_0123456789', ts, body)}"
    response = client.post(connection.webhook_path(), data=body, content_type="application/json",
                           headers={"Revolut-Request-Timestamp": ts, "Revolut-Signature": header})
    assert response.status_code == 200


def test_event_keys_are_derived_since_the_envelope_has_no_id():
    body = state_changed(tx_id="645a7696-22f3-aa47-9c74-cbae0449cc46", new_state="completed")
    description = webhooks.describe_event(body, {}, None)
    assert description.event_type == "TransactionStateChanged"
    assert description.event_key == "TransactionStateChanged:645a7696-22f3-aa47-9c74-cbae0449cc46:completed"
    created = json.dumps({"event": "TransactionCreated", "data": {"id": "t1", "state": "pending"}}).encode()
    assert webhooks.describe_event(created, {}, None).event_key == "TransactionCreated:t1:created"
    with pytest.raises(ValueError):
        webhooks.describe_event(b'{"data": {}}', {}, None)


@pytest.mark.django_db
def test_a_redelivered_event_is_stored_as_duplicate_and_not_processed_twice(revolut, client):
    body = state_changed(tx_id="tx-1")
    for _ in range(2):
        ts = str(int(time.time() * 1000))
        response = client.post(revolut.webhook_path(), data=body, content_type="application/json",
                               headers={"Revolut-Request-Timestamp": ts,
                                        "Revolut-Signature": sign("wsk_test_secret_0123456789", ts, body)})
        assert response.status_code == 200
    statuses = sorted(WebhookEvent.objects.values_list("status", flat=True))
    assert statuses == ["duplicate", "received"]


@pytest.fixture
def sent_payment(bill, mirrors, revolut):
    payment = RevolutPayment.objects.create(
        connection=revolut, bill=bill, request_id="req-1", account_external_id=EUR_ACCOUNT_ID,
        counterparty=mirrors[1], amount=bill.amount, currency="EUR", reference=bill.reference, state="pending",
        transaction_id="tx-1",
    )
    SupplierBill.objects.filter(pk=bill.pk).update(status=SupplierBill.Status.PAYMENT_PENDING)
    return payment


def stored_event(connection, body):
    description = webhooks.describe_event(body, {}, None)
    return WebhookEvent.objects.create(connection=connection, provider="revolut", event_type=description.event_type,
                                       provider_event_id=description.event_key, body=body, status="received")


@pytest.mark.django_db
def test_state_changed_to_completed_marks_the_bill_paid_once_even_when_replayed(sent_payment, revolut):
    event = stored_event(revolut, state_changed(tx_id="tx-1", new_state="completed"))
    assert process_event(event.pk) == WebhookEvent.Status.PROCESSED
    WebhookEvent.objects.filter(pk=event.pk).update(status="queued")  # an admin "Rejouer"
    assert process_event(event.pk) == WebhookEvent.Status.PROCESSED

    bill = SupplierBill.objects.get(pk=sent_payment.bill_id)
    assert bill.status == SupplierBill.Status.PAID and bill.paid_at is not None
    assert Payment.objects.filter(supplier_bill=bill, direction="out").count() == 1
    entries = TimelineEntry.objects.filter(object_id=str(bill.pk), message__contains="exécuté")
    assert entries.count() == 1 and entries.get().webhook_event_id == event.pk


@pytest.mark.django_db
@pytest.mark.parametrize("new_state", ["declined", "failed", "reverted"])
def test_state_changed_to_a_failure_marks_the_payment_failed(sent_payment, revolut, new_state):
    event = stored_event(revolut, state_changed(tx_id="tx-1", new_state=new_state))
    process_event(event.pk)
    bill = SupplierBill.objects.get(pk=sent_payment.bill_id)
    assert bill.status == SupplierBill.Status.PAYMENT_FAILED
    sent_payment.refresh_from_db()
    assert sent_payment.state == new_state
    assert TimelineEntry.objects.filter(object_id=str(bill.pk), level__in=["error", "warning"]).exists()


@pytest.mark.django_db
def test_a_late_pending_never_undoes_a_completion(sent_payment, revolut):
    process_event(stored_event(revolut, state_changed(tx_id="tx-1", new_state="completed")).pk)
    process_event(stored_event(revolut, state_changed(tx_id="tx-1", new_state="pending")).pk)
    assert SupplierBill.objects.get(pk=sent_payment.bill_id).status == SupplierBill.Status.PAID


@pytest.mark.django_db
def test_transaction_created_mirrors_the_transaction_and_links_our_payment_by_request_id(bill, mirrors, revolut):
    payment = RevolutPayment.objects.create(
        connection=revolut, bill=bill, request_id="req-9", account_external_id=EUR_ACCOUNT_ID,
        counterparty=mirrors[1], amount=bill.amount, currency="EUR", reference=bill.reference, state="unknown",
    )
    body = json.dumps({"event": "TransactionCreated", "timestamp": "2026-03-02T10:00:00Z", "data": {
        "id": "tx-9", "type": "transfer", "request_id": "req-9", "state": "pending",
        "created_at": "2026-03-02T10:00:00Z", "updated_at": "2026-03-02T10:00:00Z", "reference": bill.reference,
        "legs": [{"leg_id": "l1", "amount": -480.0, "currency": "EUR", "account_id": EUR_ACCOUNT_ID,
                  "counterparty": {"id": COUNTERPARTY_ID}}]}}).encode()
    process_event(stored_event(revolut, body).pk)
    mirror = RevolutTransaction.objects.get(external_id="tx-9")
    assert (mirror.state, mirror.amount, mirror.request_id) == ("pending", Decimal("-480.00"), "req-9")
    payment.refresh_from_db()
    assert (payment.transaction_id, payment.state) == ("tx-9", "pending")


@pytest.mark.django_db
def test_unhandled_event_types_are_acknowledged_and_ignored(revolut):
    body = json.dumps({"event": "PayoutLinkCreated", "data": {"id": "p1", "state": "created"}}).encode()
    ts = str(int(time.time() * 1000))
    response = Client().post(revolut.webhook_path(), data=body, content_type="application/json",
                             headers={"Revolut-Request-Timestamp": ts,
                                      "Revolut-Signature": sign("wsk_test_secret_0123456789", ts, body)})
    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.IGNORED
