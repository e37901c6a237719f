"""Mautic webhooks: the shared security suite, the vendor's signature vector, batches and the test payload."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

import pytest
from django.test import Client

from apps.core.models import Connection, WebhookEvent
from apps.core.webhooks.processing import process_event
from apps.mautic.models import EmailActivity
from apps.mautic.sandbox.delivery import php_json
from tests.core.webhook_security import WebhookSecuritySuite
from tests.mautic.conftest import CONTRACTS


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class TestMauticWebhookSecurity(WebhookSecuritySuite):
    provider_key = "mautic"
    signature_headers = ("Webhook-Signature",)

    def make_connection(self, webhook_secrets):
        return Connection.objects.create(provider="mautic", name="Mautic", slug=f"m-{uuid.uuid4().hex[:6]}",
                                         base_url="https://mautic.example.test", webhook_secrets=webhook_secrets)

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        body = body if body is not None else php_json({"mautic.lead_points_change": [
            {"contact": {"id": 52, "fields": {"all": {"website": "https://example.com/" + uuid.uuid4().hex}}},
             "points": {"old_points": 0, "new_points": 5}, "timestamp": "2024-10-01T12:00:00+00:00"}]})
        return body, {"Webhook-Signature": sign(secret, body)}


@pytest.fixture
def hook_connection(db, redis_connection):
    vectors = json.loads((CONTRACTS / "webhook-signature-vectors.json").read_text())
    return Connection.objects.create(provider="mautic", name="Mautic", slug="m", base_url="https://m.example.test",
                                     webhook_secrets=[vectors["secret"]]), vectors


def post(connection, body: bytes, signature: str):
    return Client().post(connection.webhook_path(), data=body, content_type="application/json",
                         headers={"Webhook-Signature": signature})


def test_vendor_vector_is_accepted_on_the_raw_bytes_with_escaped_slashes(hook_connection):
    connection, vectors = hook_connection
    vector = vectors["vectors"][0]
    body = vector["raw_body"].encode()
    assert b"https:\\/\\/" in body
    response = post(connection, body, vector["expected_webhook_signature"])
    assert response.status_code == 200
    event = WebhookEvent.objects.get(connection=connection)
    assert event.event_type == "mautic.lead_post_save_new"
    assert bytes(event.body) == body


def test_the_same_json_reserialised_without_escaped_slashes_is_refused(hook_connection):
    connection, vectors = hook_connection
    negative = vectors["negative_cases"][0]
    response = post(connection, negative["raw_body"].encode(), vectors["vectors"][0]["expected_webhook_signature"])
    assert response.status_code == 401
    assert WebhookEvent.objects.get(connection=connection).status == WebhookEvent.Status.REJECTED


def test_malformed_body_with_a_good_signature_is_kept_as_rejected_not_a_500(hook_connection):
    connection, vectors = hook_connection
    for body in (b"{not json", b"[1,2]", b'{"mautic.email_on_open": 3}'):
        response = post(connection, body, sign(vectors["secret"], body))
        assert response.status_code == 400
    assert WebhookEvent.objects.filter(connection=connection, status=WebhookEvent.Status.REJECTED).count() == 3


def test_send_test_payload_shape_is_tolerated(hook_connection):
    """The 'Send Test Payload' button posts objects (not lists) plus a top-level timestamp (NOTES §4.2)."""
    connection, vectors = hook_connection
    sample = json.loads((CONTRACTS / "webhook-sample-payloads" / "email_on_open.json").read_text())
    body = php_json({"mautic.email_on_open": sample, "timestamp": "2024-10-01T12:00:00+00:00"})
    assert post(connection, body, sign(vectors["secret"], body)).status_code == 200
    event = WebhookEvent.objects.get(connection=connection)
    assert event.event_type == "mautic.email_on_open"
    assert process_event(event.pk) == WebhookEvent.Status.PROCESSED
    # Contact 26 of the sample is not linked to a hub contact: recorded for Mautic's contact only.
    activity = EmailActivity.objects.get()
    assert (activity.kind, activity.mautic_contact_id, activity.key) == ("opened", 26, "opened:55dd17adace91")


def test_a_batch_of_several_types_is_one_event_and_each_payload_is_recorded_once(hook_connection):
    connection, vectors = hook_connection
    open_sample = json.loads((CONTRACTS / "webhook-sample-payloads" / "email_on_open.json").read_text())
    second = json.loads(json.dumps(open_sample))
    second["stat"]["trackingHash"] = "otherhash0001"
    body = php_json({"mautic.email_on_open": [open_sample, second],
                     "mautic.lead_points_change": [{"contact": {"id": 26}, "points": {}}]})
    assert post(connection, body, sign(vectors["secret"], body)).status_code == 200
    event = WebhookEvent.objects.get(connection=connection)
    assert event.event_type == "mautic.batch"
    process_event(event.pk)
    # The same open in a later batch (Mautic duplicates events) adds nothing.
    again = php_json({"mautic.email_on_open": [open_sample]})
    post(connection, again, sign(vectors["secret"], again))
    process_event(WebhookEvent.objects.latest("pk").pk)
    assert sorted(EmailActivity.objects.values_list("key", flat=True)) == ["opened:55dd17adace91",
                                                                           "opened:otherhash0001"]


@pytest.mark.parametrize("sample", sorted(p.name for p in (CONTRACTS / "webhook-sample-payloads").glob("*.json")))
def test_every_vendor_sample_delivered_as_mautic_does_is_processed(hook_connection, sample):
    """Real deliveries wrap each sample as `{"<type>": [ {...event..., "timestamp"} ]}` (README of the samples)."""
    connection, vectors = hook_connection
    payload = json.loads((CONTRACTS / "webhook-sample-payloads" / sample).read_text())
    events = payload if isinstance(payload, list) else [payload]
    body = php_json({f"mautic.{sample[:-5]}": [{**e, "timestamp": "2024-10-01T12:00:00+00:00"} for e in events]})
    assert post(connection, body, sign(vectors["secret"], body)).status_code == 200
    event = WebhookEvent.objects.get(connection=connection)
    if sample in ("form_on_submit.json", "lead_points_change.json"):  # events the console does not read
        assert event.status == WebhookEvent.Status.IGNORED
    else:
        assert process_event(event.pk) == WebhookEvent.Status.PROCESSED
