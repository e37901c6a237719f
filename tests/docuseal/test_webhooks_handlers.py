"""Each DocuSeal event on its own, as it reaches the console when the events around it are late or lost: what the
seller sees on the quote (its status, the signer's status, the timeline linked to the delivery that said so) and
what the mirrors are told. Bodies have the shapes of NOTES §6.3 (lib/submitters/serialize_for_webhook.rb,
lib/submissions/serialize_for_api.rb)."""

import json
import time

import pytest
import responses
from django.test import Client

from apps.core import signals
from apps.core.models import TimelineEntry, WebhookEvent
from apps.core.webhooks.processing import process_event
from apps.docuseal.models import SignatureRequest, SignedDocument, Signer
from apps.hub.models import Quote
from tests.docuseal.conftest import HMAC_SECRET
from tests.docuseal.test_webhooks import sign

SUBMISSION_ID = 301
FILES = "https://sign.example.test/file"
PDF = b"%PDF-1.7 signed copy"

pytestmark = pytest.mark.django_db


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
