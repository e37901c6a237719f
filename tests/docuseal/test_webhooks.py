"""DocuSeal webhooks: the shared security suite, DocuSeal's own signing recipe, the unsigned test delivery,
the custom secret header, the dedupe key and the event table."""

import hashlib
import hmac
import json
import time
import uuid

import pytest
from django.test import Client

from apps.core.models import Connection, WebhookEvent
from apps.core.webhooks.processing import process_event
from apps.docuseal import webhooks
from apps.docuseal.handlers import HANDLERS
from tests.core.webhook_security import WebhookSecuritySuite
from tests.docuseal.conftest import HMAC_SECRET


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """NOTES §6.4: key = the whole whsec_ string, message = "<t>.<raw body>", lowercase hex."""
    return f"{timestamp}." + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def form_event(event_type="form.viewed", submitter_id=None, timestamp=None, **data) -> bytes:
    return json.dumps({"event_type": event_type, "timestamp": timestamp or "2026-12-03T10:00:00.123Z",
                       "data": {"id": submitter_id or uuid.uuid4().int % 10**9, "submission_id": 1, **data}}).encode()


def make_connection(webhook_secrets, **config):
    return Connection.objects.create(provider="docuseal", name="DocuSeal", slug=f"ds-{uuid.uuid4().hex[:6]}",
                                     base_url="https://sign.example.test", secrets={"api_key": "k" * 20},
                                     webhook_secrets=webhook_secrets, config=config)


class TestDocusealWebhookSecurity(WebhookSecuritySuite):
    provider_key = "docuseal"
    signature_headers = ("X-Docuseal-Signature",)
    has_timestamp = True

    def make_connection(self, webhook_secrets):
        return make_connection(webhook_secrets)

    def now(self):
        return time.time()

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        body = body if body is not None else form_event(timestamp=f"2026-12-03T10:00:{uuid.uuid4().int % 60:02d}.{uuid.uuid4().int % 1000:03d}Z")
        return body, {"X-Docuseal-Signature": sign(secret, int(timestamp or self.now()), body)}


def post(connection, body, headers):
    return Client().post(connection.webhook_path(), data=body, content_type="application/json", headers=headers)


def test_the_verifier_follows_the_vendor_recipe_on_raw_bytes():
    body = b'{"event_type":"form.completed","timestamp":"2026-12-03T10:00:00Z","data":{"id":1}}'
    verifier = webhooks.verifier(None)
    verifier.clock = lambda: 1_790_000_000
    verifier.verify({"X-Docuseal-Signature": sign(HMAC_SECRET, 1_790_000_000, body)}, body, [HMAC_SECRET])
    # 300 s either way is accepted, 301 is not.
    verifier.verify({"X-Docuseal-Signature": sign(HMAC_SECRET, 1_790_000_300, body)}, body, [HMAC_SECRET])
    with pytest.raises(webhooks.VerificationError):
        verifier.verify({"X-Docuseal-Signature": sign(HMAC_SECRET, 1_789_999_699, body)}, body, [HMAC_SECRET])
    # The secret is used as is, prefix included, not base64-decoded.
    stripped = HMAC_SECRET.removeprefix("whsec_")
    with pytest.raises(webhooks.InvalidSignature):
        verifier.verify({"X-Docuseal-Signature": sign(stripped, 1_790_000_000, body)}, body, [HMAC_SECRET])


@pytest.mark.django_db
def test_docuseal_test_delivery_is_acknowledged_but_kept_rejected_and_never_processed(redis_connection):
    connection = make_connection([HMAC_SECRET])
    body = form_event("form.completed")
    response = post(connection, body, {"User-Agent": "DocuSeal.com Webhook/2.5"})  # any version of its agent
    assert response.status_code == 200  # DocuSeal's settings page shows the URL works
    event = WebhookEvent.objects.get(connection=connection)
    assert event.status == WebhookEvent.Status.REJECTED
    assert event.last_error == "Livraison de test DocuSeal non signée : reçue, conservée sans traitement."
    assert process_event(event.pk) == "skipped"


@pytest.mark.django_db
def test_an_unsigned_delivery_from_anyone_else_is_refused(redis_connection):
    connection = make_connection([HMAC_SECRET])
    for agent in ({}, {"User-Agent": "curl/8.5"}, {"User-Agent": "Mozilla/5.0 DocuSeal.com Webhook"}):
        response = post(connection, form_event(), agent)
        assert response.status_code == 400
        assert response.json()["detail"] == "En-tête X-Docuseal-Signature absent."  # what the sender reads
    refused = WebhookEvent.objects.all()  # counted in the webhook log, their bodies not kept
    assert {(event.status, event.last_error, bytes(event.body)) for event in refused} == {
        (WebhookEvent.Status.REJECTED, "En-tête de signature absent : X-Docuseal-Signature", b"")}
    assert len(refused) == 3


@pytest.mark.django_db
def test_the_custom_secret_header_is_required_when_configured(redis_connection):
    connection = make_connection([HMAC_SECRET], secret_header_name="X-Console-Docuseal-Secret")
    connection.secrets = {**connection.secrets, "webhook_header_value": "header-value-0123456789"}
    connection.save()
    body = form_event()
    signed = {"X-Docuseal-Signature": sign(HMAC_SECRET, int(time.time()), body)}
    assert post(connection, body, signed).status_code == 400  # header missing
    assert post(connection, body, {**signed, "X-Console-Docuseal-Secret": "wrong-value-000000"}).status_code == 401
    response = post(connection, body, {**signed, "X-Console-Docuseal-Secret": "header-value-0123456789"})
    assert response.status_code == 200
    stored = WebhookEvent.objects.exclude(status=WebhookEvent.Status.REJECTED).get()
    assert "header-value-0123456789" not in json.dumps(stored.headers)


@pytest.mark.django_db
def test_an_instance_older_than_hmac_signing_is_checked_by_its_custom_header_alone(redis_connection):
    connection = make_connection([], secret_header_name="X-Docuseal-Secret")
    connection.secrets = {**connection.secrets, "webhook_header_value": "header-value-0123456789"}
    connection.save()
    assert post(connection, form_event(), {"X-Docuseal-Secret": "header-value-0123456789"}).status_code == 200
    assert post(connection, form_event(), {"X-Docuseal-Secret": "nope-nope-nope"}).status_code == 401


@pytest.mark.django_db
def test_no_secret_at_all_fails_closed(redis_connection):
    connection = make_connection([])
    body = form_event()
    assert post(connection, body, {"X-Docuseal-Signature": sign("x", int(time.time()), body)}).status_code == 503


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_kept_rejected(redis_connection):
    connection = make_connection([HMAC_SECRET])
    body = b"<html>not json</html>"
    response = post(connection, body, {"X-Docuseal-Signature": sign(HMAC_SECRET, int(time.time()), body)})
    assert response.status_code == 400
    assert WebhookEvent.objects.get(connection=connection).status == WebhookEvent.Status.REJECTED


@pytest.mark.django_db
def test_a_retry_of_one_event_is_a_duplicate_but_a_repeated_view_is_a_new_event(redis_connection):
    connection = make_connection([HMAC_SECRET])
    first = form_event("form.viewed", submitter_id=77, timestamp="2026-12-03T10:00:00.100Z")
    for _ in range(2):  # DocuSeal's retry: same body, fresh signature timestamp
        post(connection, first, {"X-Docuseal-Signature": sign(HMAC_SECRET, int(time.time()), first)})
    second_view = form_event("form.viewed", submitter_id=77, timestamp="2026-12-03T10:05:00.200Z")
    post(connection, second_view, {"X-Docuseal-Signature": sign(HMAC_SECRET, int(time.time()), second_view)})
    statuses = sorted(WebhookEvent.objects.values_list("status", flat=True))
    assert statuses.count("duplicate") == 1 and len(statuses) == 3
    assert WebhookEvent.objects.filter(provider_event_id="form.viewed:77:2026-12-03T10:00:00.100Z").count() == 2


@pytest.mark.django_db
def test_template_events_are_stored_ignored_and_every_documented_event_is_known(redis_connection):
    assert set(webhooks.EVENTS) == {
        "form.viewed", "form.started", "form.completed", "form.declined", "submission.created",
        "submission.completed", "submission.expired", "submission.archived", "template.created",
        "template.updated", "template.archived"}
    assert {name for name, use in webhooks.EVENTS.items() if use == "handled"} == set(HANDLERS)
    connection = make_connection([HMAC_SECRET])
    body = json.dumps({"event_type": "template.updated", "timestamp": "2026-12-03T10:00:00Z",
                       "data": {"id": 4, "name": "Modèle"}}).encode()
    headers = {"X-Docuseal-Signature": sign(HMAC_SECRET, int(time.time()), body)}
    assert post(connection, body, headers).status_code == 200
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.IGNORED


@pytest.mark.django_db
def test_the_hook_never_redirects(redis_connection):
    connection = make_connection([HMAC_SECRET])
    body = form_event()
    response = Client().post(connection.webhook_path().rstrip("/"), data=body, content_type="application/json",
                             headers={"X-Docuseal-Signature": sign(HMAC_SECRET, int(time.time()), body)})
    assert response.status_code == 200 and "Location" not in response.headers


@pytest.mark.django_db
def test_a_signed_envelope_without_a_textual_event_type_or_an_object_as_data_is_refused(redis_connection):
    connection = make_connection([HMAC_SECRET])
    for envelope in ({"event_type": 7, "data": {"id": 1}}, {"event_type": None, "data": {"id": 1}},
                     {"event_type": "form.viewed", "data": [1]}, {"event_type": "form.viewed"}, ["form.viewed"]):
        body = json.dumps(envelope).encode()
        response = post(connection, body, {"X-Docuseal-Signature": sign(HMAC_SECRET, int(time.time()), body)})
        assert response.status_code == 400 and response.json()["detail"] == "JSON invalide."
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.REJECTED}
