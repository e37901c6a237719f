"""DocuSeal webhooks: the shared security suite, DocuSeal's own signing recipe, the unsigned test delivery,
the custom secret header, the dedupe key, the event table, and what each handled event does on its own."""

import hashlib
import hmac
import json
import time
import uuid

import pytest
import responses
from django.test import Client

from apps.core import signals
from apps.core.models import Connection, TimelineEntry, WebhookEvent
from apps.core.webhooks.processing import process_event
from apps.docuseal import webhooks
from apps.docuseal.handlers import HANDLERS
from apps.docuseal.models import SignatureRequest, SignedDocument, Signer
from apps.hub.models import Quote
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
def test_a_half_configured_custom_header_is_neither_required_nor_trusted(redis_connection):
    body = form_event()
    signed = {"X-Docuseal-Signature": sign(HMAC_SECRET, int(time.time()), body)}
    value_without_name = make_connection([HMAC_SECRET])
    value_without_name.secrets = {**value_without_name.secrets, "webhook_header_value": "header-value-0123456789"}
    value_without_name.save()
    assert post(value_without_name, body, signed).status_code == 200  # the HMAC signature is the check
    name_without_value = make_connection([HMAC_SECRET], secret_header_name="X-Docuseal-Secret")
    assert post(name_without_value, body, signed).status_code == 200
    # A header name alone is no secret: with no HMAC secret either, nothing is let in.
    name_only = make_connection([], secret_header_name="X-Docuseal-Secret")
    assert post(name_only, form_event(), {}).status_code == 503


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


# Each event on its own, as it reaches the console when the events around it are late or lost: what the seller
# sees on the quote (its status, the signer's status, the timeline linked to the delivery that said so) and what
# the mirrors are told. Bodies have the shapes of NOTES §6.3 (lib/submitters/serialize_for_webhook.rb,
# lib/submissions/serialize_for_api.rb).
SUBMISSION_ID = 301
FILES = "https://sign.example.test/file"
PDF = b"%PDF-1.7 signed copy"


@pytest.fixture
def request_sent(connection, quote):
    """The quote sent for signature to two contacts: Claire (submitter 11) and Paul (submitter 12)."""
    request = SignatureRequest.objects.create(connection=connection, quote=quote, submission_id=SUBMISSION_ID,
                                              source=SignatureRequest.Source.PDF)
    Signer.objects.create(request=request, submitter_id=11, order=0, name="Claire Moreau",
                          email="claire@atelier.example")
    Signer.objects.create(request=request, submitter_id=12, order=1, name="Paul Girard", email="paul@atelier.example")
    return request


@pytest.fixture
def reported():
    """What the console tells mirrors (Directus) about the quote's signature, in order."""
    seen = []

    def receiver(sender, **kwargs):
        if sender == "docuseal":
            seen.append(kwargs.get("signature_state"))

    signals.integration_status_reported.connect(receiver, dispatch_uid="test-docuseal-handlers")
    yield seen
    signals.integration_status_reported.disconnect(dispatch_uid="test-docuseal-handlers")


def deliver(connection, event_type: str, data: dict, redis_connection) -> WebhookEvent:
    body = json.dumps({"event_type": event_type, "timestamp": f"2026-12-03T10:{time.time_ns() % 60:02d}:00.000Z",
                       "data": data}).encode()
    response = Client().post(connection.webhook_path(), data=body, content_type="application/json",
                             headers={"X-Docuseal-Signature": sign(HMAC_SECRET, int(time.time()), body)})
    assert response.status_code == 200
    event = WebhookEvent.objects.latest("pk")
    assert process_event(event.pk) == WebhookEvent.Status.PROCESSED
    return event


def submitter(submitter_id: int, status: str, **fields) -> dict:
    return {"id": submitter_id, "submission_id": SUBMISSION_ID, "email": f"s{submitter_id}@atelier.example",
            "status": status, "opened_at": None, "completed_at": None, "declined_at": None, "decline_reason": None,
            **fields}


def entries(quote, event=None) -> list[str]:
    found = TimelineEntry.objects.filter(object_id=str(quote.pk), provider="docuseal")
    if event is not None:
        found = found.filter(webhook_event=event)
    return [entry.text for entry in found.order_by("pk")]


@pytest.mark.parametrize("submission_named_by", ["both", "submission_id", "submission"])
def test_a_signer_who_starts_filling_in_shows_as_started_not_merely_opened(connection, request_sent, quote,
                                                                          reported, redis_connection,
                                                                          submission_named_by):
    # DocuSeal has no "started" submitter status: form.started carries "opened", the event type says more.
    data = {**submitter(11, "opened", opened_at="2026-12-03T10:00:00Z"),
            "submission": {"id": SUBMISSION_ID, "status": "pending"}}
    if submission_named_by == "submission_id":  # the request is found whichever field names its submission
        data["submission"].pop("id")
    elif submission_named_by == "submission":
        data.pop("submission_id")
    event = deliver(connection, "form.started", data, redis_connection)
    assert request_sent.signers.get(submitter_id=11).status == Signer.Status.STARTED
    assert entries(quote, event) == ["Claire Moreau a commencé à remplir le formulaire de signature."]
    assert reported == ["pending"]


def test_a_submission_created_delivered_late_still_shows_a_signer_who_already_opened_the_link(
        connection, request_sent, quote, reported, redis_connection):
    # The console was down when DocuSeal announced the submission; its retry arrives after Claire opened it.
    event = deliver(connection, "submission.created", {
        "id": SUBMISSION_ID, "status": "pending", "archived_at": None, "documents": [],
        "submitters": [submitter(11, "opened", opened_at="2026-12-03T10:01:00Z"), submitter(12, "awaiting")]},
        redis_connection)
    request_sent.refresh_from_db()
    assert dict(request_sent.signers.values_list("submitter_id", "status")) == {11: "opened", 12: "sent"}
    assert request_sent.status == SignatureRequest.Status.PENDING and request_sent.last_checked_at is not None
    assert entries(quote, event) == ["Claire Moreau a ouvert la demande de signature."]
    assert reported == ["pending"]


@pytest.mark.parametrize("audit_log_in", ["data", "submission"])
@responses.activate
def test_the_last_signature_alone_signs_the_quote_and_archives_the_copy_when_submission_completed_is_late(
        connection, request_sent, quote, reported, redis_connection, audit_log_in):
    request_sent.signers.filter(submitter_id=11).update(status=Signer.Status.COMPLETED)
    responses.get(f"{FILES}/devis.pdf", body=PDF)
    responses.get(f"{FILES}/audit.pdf", body=PDF)
    audit_log = {"audit_log_url": f"{FILES}/audit.pdf"}  # the audit log is kept whichever field brings it
    event = deliver(connection, "form.completed", {
        **submitter(12, "completed", completed_at="2026-12-03T10:02:00Z"),
        "documents": [{"name": "devis", "url": f"{FILES}/devis.pdf"}],
        **(audit_log if audit_log_in == "data" else {}),
        "submission": {"id": SUBMISSION_ID, "status": "completed",
                       **(audit_log if audit_log_in == "submission" else {})}},
        redis_connection)
    request_sent.refresh_from_db()
    quote.refresh_from_db()
    assert request_sent.status == SignatureRequest.Status.COMPLETED and quote.status == Quote.Status.ACCEPTED
    assert request_sent.archive_state == SignatureRequest.ArchiveState.ARCHIVED
    assert sorted(SignedDocument.objects.values_list("kind", "name")) == [("audit_log", "audit-log"),
                                                                          ("document", "devis")]
    assert entries(quote, event) == ["Paul Girard a signé le devis.",
                                     "Devis signé par tous les signataires (DocuSeal).",
                                     "Document(s) signé(s) archivé(s) dans la console : 1, avec le journal d'audit."]
    assert reported[-1] == "completed"


@responses.activate
def test_submission_completed_alone_signs_every_signer_and_archives_the_copy_when_form_events_are_lost(
        connection, request_sent, quote, reported, redis_connection):
    responses.get(f"{FILES}/devis.pdf", body=PDF)
    responses.get(f"{FILES}/audit.pdf", body=PDF)
    event = deliver(connection, "submission.completed", {
        "id": SUBMISSION_ID, "status": "completed", "archived_at": None, "completed_at": "2026-12-03T10:05:00Z",
        "documents": [{"name": "devis", "url": f"{FILES}/devis.pdf"}], "audit_log_url": f"{FILES}/audit.pdf",
        "submitters": [submitter(11, "completed", completed_at="2026-12-03T10:02:00Z"),
                       submitter(12, "completed", completed_at="2026-12-03T10:05:00Z")]}, redis_connection)
    request_sent.refresh_from_db()
    quote.refresh_from_db()
    assert request_sent.status == SignatureRequest.Status.COMPLETED and quote.status == Quote.Status.ACCEPTED
    assert set(request_sent.signers.values_list("status", flat=True)) == {Signer.Status.COMPLETED}
    assert request_sent.archive_state == SignatureRequest.ArchiveState.ARCHIVED
    assert sorted(SignedDocument.objects.values_list("kind", "name")) == [("audit_log", "audit-log"),
                                                                          ("document", "devis")]
    assert entries(quote, event) == ["Claire Moreau a signé le devis.", "Paul Girard a signé le devis.",
                                     "Devis signé par tous les signataires (DocuSeal).",
                                     "Document(s) signé(s) archivé(s) dans la console : 1, avec le journal d'audit."]
    assert reported[-1] == "completed"


def test_a_first_signature_of_two_leaves_the_quote_waiting(connection, request_sent, quote, redis_connection):
    deliver(connection, "form.completed", {
        **submitter(11, "completed", completed_at="2026-12-03T10:02:00Z"),
        "submission": {"id": SUBMISSION_ID, "status": "pending"}}, redis_connection)
    request_sent.refresh_from_db()
    quote.refresh_from_db()
    assert request_sent.signers.get(submitter_id=11).status == Signer.Status.COMPLETED
    assert request_sent.status == SignatureRequest.Status.PENDING and quote.status == Quote.Status.SENT


def test_a_decline_without_a_reason_reads_sans_motif_and_links_the_delivery(connection, request_sent, quote,
                                                                           redis_connection):
    event = deliver(connection, "form.declined", {
        **submitter(11, "declined", declined_at="2026-12-03T10:03:00Z"),
        "submission": {"id": SUBMISSION_ID, "status": "declined"}}, redis_connection)
    request_sent.refresh_from_db()
    quote.refresh_from_db()
    assert request_sent.status == SignatureRequest.Status.DECLINED and quote.status == Quote.Status.DECLINED
    assert request_sent.decline_reason == ""
    assert entries(quote, event) == ["Claire Moreau a refusé de signer : (sans motif)",
                                     "Signature refusée : (sans motif)"]


def test_an_expiry_alone_expires_the_quote_and_every_signer_still_waiting(connection, request_sent, quote,
                                                                          reported, redis_connection):
    request_sent.signers.filter(submitter_id=11).update(status=Signer.Status.COMPLETED)
    # The event type says it expired; the body's status is whatever DocuSeal's clock gave when it serialized.
    event = deliver(connection, "submission.expired", {
        "id": SUBMISSION_ID, "status": "pending", "expire_at": "2026-12-03T10:00:00Z", "archived_at": None,
        "documents": [], "submitters": [submitter(11, "completed", completed_at="2026-12-02T09:00:00Z"),
                                        submitter(12, "sent")]}, redis_connection)
    request_sent.refresh_from_db()
    quote.refresh_from_db()
    assert request_sent.status == SignatureRequest.Status.EXPIRED and quote.status == Quote.Status.EXPIRED
    assert dict(request_sent.signers.values_list("submitter_id", "status")) == {11: "completed", 12: "expired"}
    assert entries(quote, event) == ["La demande de signature de Paul Girard a expiré.",
                                     "La demande de signature a expiré sans être signée."]
    assert reported == ["expired"]


def test_a_submission_archived_in_docuseal_cancels_the_request_and_the_quote_may_be_sent_again(
        connection, request_sent, quote, reported, redis_connection):
    event = deliver(connection, "submission.archived", {"id": SUBMISSION_ID, "archived_at": "2026-12-03T11:00:00Z"},
                    redis_connection)
    request_sent.refresh_from_db()
    quote.refresh_from_db()
    assert request_sent.status == SignatureRequest.Status.ARCHIVED and not request_sent.is_open
    assert quote.status == Quote.Status.SENT
    assert entries(quote, event) == ["Demande de signature annulée (archivée dans DocuSeal)."]
    assert reported == ["archived"]


def test_events_about_a_submission_the_console_did_not_create_change_nothing(connection, request_sent, quote,
                                                                           reported, redis_connection):
    other = SUBMISSION_ID + 1
    for event_type, data in (
            ("form.started", {**submitter(11, "opened"), "submission_id": other, "submission": {"id": other}}),
            ("form.completed", {**submitter(11, "completed"), "submission_id": other,
                                "submission": {"id": other, "status": "completed"}}),
            ("form.declined", {**submitter(11, "declined"), "submission_id": other,
                               "submission": {"id": other, "status": "declined"}}),
            ("submission.created", {"id": other, "status": "pending", "submitters": [submitter(11, "sent")]}),
            ("submission.completed", {"id": other, "status": "completed", "submitters": [submitter(11, "completed")]}),
            ("submission.expired", {"id": other, "status": "expired", "submitters": [submitter(11, "sent")]}),
            ("submission.archived", {"id": other, "archived_at": "2026-12-03T11:00:00Z"})):
        deliver(connection, event_type, data, redis_connection)
    request_sent.refresh_from_db()
    assert request_sent.status == SignatureRequest.Status.PENDING
    assert set(request_sent.signers.values_list("status", flat=True)) == {Signer.Status.SENT}
    assert entries(quote) == [] and reported == []


def test_a_view_after_signing_is_written_as_a_view_and_the_signature_once_with_its_own_event(
        connection, request_sent, quote, redis_connection):
    # Claire signed and opened her link again; DocuSeal's form.completed delivery is retried late, after the view.
    signed = submitter(11, "completed", opened_at="2026-12-03T10:00:00Z", completed_at="2026-12-03T10:02:00Z")
    viewed = deliver(connection, "form.viewed", {**signed, "submission": {"id": SUBMISSION_ID, "status": "pending"}},
                     redis_connection)
    assert request_sent.signers.get(submitter_id=11).status == Signer.Status.OPENED
    completed = deliver(connection, "form.completed", {**signed, "submission": {"id": SUBMISSION_ID,
                                                                                 "status": "pending"}},
                        redis_connection)
    assert request_sent.signers.get(submitter_id=11).status == Signer.Status.COMPLETED
    assert entries(quote, viewed) == ["Claire Moreau a ouvert la demande de signature."]
    assert entries(quote, completed) == ["Claire Moreau a signé le devis."]
