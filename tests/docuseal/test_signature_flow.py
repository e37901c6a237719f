"""A quote sent for signature through the DocuSeal sandbox, end to end in one process: the action, the
signer on the sandbox's signing page, DocuSeal's signed webhooks back to the console, the archive, the
reconciliation — and what goes wrong: no e-mail, no matching field, DocuSeal down, downloads failing."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from django.test import Client
from django.utils import timezone

from apps.core import actions, documents
from apps.core.documents import DocumentFile
from apps.core.models import ActionRun, TimelineEntry, WebhookEvent
from apps.docuseal import jobs
from apps.docuseal.models import SignatureRequest, SignedDocument, Signer
from apps.docuseal.sandbox import pdf
from apps.docuseal.sandbox.models import SandboxAccount, SandboxDelivery, SandboxSubmission, SandboxSubmitter
from apps.hub.models import Contact, Quote
from tests.docuseal.conftest import run_jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def quote_pdf():
    """The quote's own PDF, as Invoice Ninja would give it through the kernel's registry."""
    def source(quote):
        return DocumentFile(f"devis-{quote.number}.pdf", pdf.render([f"Devis {quote.number}"]), "Invoice Ninja (test)")

    documents.register(Quote, "test-pdf", source)
    yield
    documents.unregister(Quote, "test-pdf")


def send(quote, user, action_key="docuseal.send_for_signature") -> ActionRun:
    run, _created = actions.start(actions.get(action_key), quote, user, uuid.uuid4().hex)
    run_jobs("default")
    run.refresh_from_db()
    return run


def signer_page(signer: Signer) -> str:
    return signer.signing_url


def sign(signer: Signer, name="Claire Moreau"):
    response = requests.post(signer.signing_url, data={"action": "sign", "signature": name}, timeout=20)
    assert response.status_code == 200, response.text[:500]


def decline(signer: Signer, reason: str):
    response = requests.post(signer.signing_url, data={"action": "decline", "reason": reason}, timeout=20)
    assert response.status_code == 200


def timeline(quote) -> list[str]:
    return list(TimelineEntry.objects.filter(object_id=str(quote.pk)).values_list("message", flat=True))


def test_pro_edition_signs_the_quote_pdf_and_archives_the_signed_copy(sandbox, quote, staff, quote_pdf):
    connection, account, _template = sandbox
    run = send(quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    request = SignatureRequest.objects.get(quote=quote)
    assert request.source == SignatureRequest.Source.PDF
    connection.refresh_from_db()
    assert connection.config["edition"] == "pro"
    signer = request.signers.get()
    assert signer.email == "claire@atelier.example" and signer.status == Signer.Status.SENT
    assert urlsplit(signer.signing_url).path.startswith("/sandbox/docuseal/s/")

    requests.get(signer.signing_url, timeout=20)  # the signer opens the link
    sign(signer)
    run_jobs("webhooks")

    quote.refresh_from_db()
    request.refresh_from_db()
    signer.refresh_from_db()
    assert quote.status == Quote.Status.ACCEPTED
    assert (request.status, signer.status) == (SignatureRequest.Status.COMPLETED, Signer.Status.COMPLETED)
    assert request.archive_state == SignatureRequest.ArchiveState.ARCHIVED
    kinds = sorted(request.documents.values_list("kind", flat=True))
    assert kinds == ["audit_log", "document"]
    assert any("a ouvert" in m for m in timeline(quote)) and any("a signé" in m for m in timeline(quote))

    # Downloadable by who may see the quote, from the console's storage; nobody else.
    document = request.documents.get(kind="document")
    browser = Client()
    browser.force_login(staff)
    response = browser.get(f"/docuseal/documents/{document.pk}/")
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"%PDF")
    assert "private" in response["Cache-Control"]
    from django.contrib.auth.models import User
    outsider = User.objects.create_user("curieux", password="x", is_staff=True)
    browser.force_login(outsider)
    assert browser.get(f"/docuseal/documents/{document.pk}/").status_code == 403


def test_open_source_edition_falls_back_to_the_acceptance_template_with_prefilled_values(sandbox, quote, staff,
                                                                                         quote_pdf):
    connection, account, template = sandbox
    account.edition = SandboxAccount.Edition.OPEN_SOURCE
    account.save()
    run = send(quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    connection.refresh_from_db()
    assert connection.config["edition"] == "open_source"  # learnt from DocuSeal's "Pro Edition" 404
    request = SignatureRequest.objects.get(quote=quote)
    assert (request.source, request.template_id) == (SignatureRequest.Source.TEMPLATE, template.pk)
    remote = SandboxSubmitter.objects.get(submission_id=request.submission_id)
    assert remote.values["Numéro du devis"] == "D-0042"
    assert remote.values["Client"] == "Atelier Lumière SARL"
    assert remote.values["Montant TTC"].endswith("EUR") and "2" in remote.values["Montant TTC"]


def test_several_contacts_sign_in_order(sandbox, quote, staff, quote_pdf):
    Contact.objects.create(company=quote.company, first_name="Marc", last_name="Petit", email="marc@atelier.example")
    send(quote, staff)
    request = SignatureRequest.objects.get(quote=quote)
    first, second = request.signers.order_by("order")
    assert (first.email, second.email) == ("claire@atelier.example", "marc@atelier.example")
    assert second.status == Signer.Status.AWAITING
    sign(first)
    run_jobs("webhooks")
    request.refresh_from_db()
    assert request.status == SignatureRequest.Status.PENDING
    sign(second, "Marc Petit")
    run_jobs("webhooks")
    request.refresh_from_db()
    assert request.status == SignatureRequest.Status.COMPLETED


def test_a_declined_signature_shows_the_reason_and_declines_the_quote(sandbox, quote, staff, quote_pdf):
    send(quote, staff)
    signer = SignatureRequest.objects.get(quote=quote).signers.get()
    decline(signer, "Le délai de livraison ne nous convient pas")
    run_jobs("webhooks")
    quote.refresh_from_db()
    request = SignatureRequest.objects.get(quote=quote)
    assert quote.status == Quote.Status.DECLINED
    assert request.decline_reason == "Le délai de livraison ne nous convient pas"
    assert any("Le délai de livraison ne nous convient pas" in m for m in timeline(quote))
    assert not request.documents.exists()


def test_a_double_click_sends_once(sandbox, quote, staff, quote_pdf):
    action = actions.get("docuseal.send_for_signature")
    key = uuid.uuid4().hex
    first, created = actions.start(action, quote, staff, key)
    again, created_again = actions.start(action, quote, staff, key)
    other_tab, created_other = actions.start(action, quote, staff, uuid.uuid4().hex)
    assert created and not created_again and not created_other
    assert first.pk == again.pk == other_tab.pk
    run_jobs("default")
    assert SandboxSubmission.objects.count() == 1
    assert not action.is_available(quote, staff)  # pending: no second send


def test_a_retried_run_finds_the_submission_docuseal_already_created(sandbox, quote, staff, quote_pdf):
    action = actions.get("docuseal.send_for_signature")
    run, _ = actions.start(action, quote, staff, uuid.uuid4().hex)
    run_jobs("default")
    run.refresh_from_db()
    # The worker died after DocuSeal answered but before the id was kept: run it again from scratch.
    SignatureRequest.objects.all().delete()
    run.external_ids = {}
    run.status = ActionRun.Status.RUNNING
    run.heartbeat_at = timezone.now() - timedelta(minutes=5)  # its worker stopped beating: it died
    run.save()
    actions.execute(run.pk)
    assert SandboxSubmission.objects.count() == 1
    assert SignatureRequest.objects.get(quote=quote).submission_id == SandboxSubmission.objects.get().pk


def test_a_quote_without_contact_email_gets_a_readable_message_and_nothing_is_sent(sandbox, quote, staff):
    quote.company.contacts.update(email="")
    run = send(quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert run.message == ("Aucun contact de Atelier Lumière SARL n'a d'adresse e-mail : ajoutez-en une avant "
                           "d'envoyer le devis pour signature.")
    assert not SandboxSubmission.objects.exists()


def test_a_template_without_any_expected_field_is_refused_readably(sandbox, quote, staff):
    connection, account, template = sandbox
    template.fields = [f for f in template.fields if f["type"] == "signature"]
    template.save()
    account.edition = SandboxAccount.Edition.OPEN_SOURCE
    account.save()
    run = send(quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert "aucun des champs attendus" in run.message and "Numéro du devis" in run.message
    assert not SandboxSubmission.objects.exists()


def test_docuseal_down_is_a_readable_failure(sandbox, quote, staff):
    connection, _account, _template = sandbox
    connection.base_url = "http://127.0.0.1:9"  # nothing listens there
    connection.save()
    run = send(quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert "DocuSeal" in run.message and "Traceback" not in run.message
    assert not SignatureRequest.objects.exists()


def test_a_lost_webhook_is_caught_up_by_the_reconciliation(sandbox, quote, staff, quote_pdf):
    connection, account, _template = sandbox
    send(quote, staff)
    account.webhook_url = ""  # DocuSeal's deliveries never arrive
    account.save()
    sign(SignatureRequest.objects.get(quote=quote).signers.get())
    assert SignatureRequest.objects.get(quote=quote).status == SignatureRequest.Status.PENDING
    jobs.reconcile()
    request = SignatureRequest.objects.get(quote=quote)
    quote.refresh_from_db()
    assert request.status == SignatureRequest.Status.COMPLETED and quote.status == Quote.Status.ACCEPTED
    assert request.documents.filter(kind="document").count() == 1
    jobs.reconcile()
    assert SignedDocument.objects.count() == 2  # document + audit log, never twice


def test_expired_links_are_replaced_by_fresh_urls_and_archived_once(sandbox, quote, staff, quote_pdf):
    connection, account, _template = sandbox
    send(quote, staff)
    sign(SignatureRequest.objects.get(quote=quote).signers.get())
    # The webhook is processed after its links died (a busy queue, 40 minutes later).
    SandboxAccount.objects.filter(pk=account.pk).update(links_valid_from=timezone.now() + timedelta(seconds=1))
    time.sleep(1.1)
    run_jobs("webhooks")
    request = SignatureRequest.objects.get(quote=quote)
    assert request.archive_state == SignatureRequest.ArchiveState.ARCHIVED
    assert request.documents.filter(kind="document").count() == 1


def test_downloads_failing_for_long_leave_the_signature_and_retry_later(sandbox, quote, staff, quote_pdf):
    connection, account, _template = sandbox
    send(quote, staff)
    SandboxAccount.objects.filter(pk=account.pk).update(downloads_down=True)
    sign(SignatureRequest.objects.get(quote=quote).signers.get())
    run_jobs("webhooks")
    request = SignatureRequest.objects.get(quote=quote)
    quote.refresh_from_db()
    assert quote.status == Quote.Status.ACCEPTED  # the signature is not lost
    assert request.archive_state == SignatureRequest.ArchiveState.FAILED and request.archive_error
    assert not request.documents.exists()
    assert WebhookEvent.objects.filter(event_type="form.completed", status="processed").exists()
    SandboxAccount.objects.filter(pk=account.pk).update(downloads_down=False)
    jobs.reconcile()
    request.refresh_from_db()
    assert request.archive_state == SignatureRequest.ArchiveState.ARCHIVED
    assert request.documents.filter(kind="document").count() == 1


def test_resend_and_cancel(sandbox, quote, staff, quote_pdf):
    send(quote, staff)
    run = send(quote, staff, "docuseal.resend_signature")
    assert run.status == ActionRun.Status.SUCCEEDED and "claire@atelier.example" in run.message
    run = send(quote, staff, "docuseal.cancel_signature")
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    request = SignatureRequest.objects.get(quote=quote)
    assert request.status == SignatureRequest.Status.ARCHIVED
    assert SandboxSubmission.objects.get().archived_at is not None
    run_jobs("webhooks")  # the submission.archived webhook changes nothing more
    assert TimelineEntry.objects.filter(message__contains="annulée").count() == 1
    assert actions.get("docuseal.send_for_signature").is_available(quote, staff)  # may be sent again


def test_sandbox_retries_a_refused_delivery_on_the_documented_schedule(sandbox, quote, staff, quote_pdf):
    connection, account, _template = sandbox
    connection.webhook_secrets = ["whsec_not-the-one-docuseal-uses-000"]
    connection.save()
    send(quote, staff)
    delivery = SandboxDelivery.objects.get(event_type="submission.created")
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 12, 401)
    assert WebhookEvent.objects.filter(status="rejected").count() >= 12


def test_connection_sync_reads_submissions_and_catches_up_a_lost_signature(sandbox, quote, staff, quote_pdf):
    from django.core.management import call_command

    from apps.docuseal.models import SubmissionMirror

    connection, account, _template = sandbox
    send(quote, staff)
    account.webhook_url = ""
    account.save()
    sign(SignatureRequest.objects.get(quote=quote).signers.get())
    call_command("connection", "sync", connection.slug)
    request = SignatureRequest.objects.get(quote=quote)
    assert request.status == SignatureRequest.Status.COMPLETED
    assert request.archive_state == SignatureRequest.ArchiveState.ARCHIVED
    assert SubmissionMirror.objects.get(external_id=str(request.submission_id)).status == "completed"
    call_command("connection", "sync", connection.slug)  # nothing changed: nothing applied twice
    assert SignedDocument.objects.filter(request=request, kind="document").count() == 1


def test_an_expired_request_expires_the_quote(sandbox, quote, staff, quote_pdf):
    from datetime import date

    quote.valid_until = date(2020, 1, 31)  # already past: DocuSeal expires the submission
    quote.save()
    send(quote, staff)
    jobs.reconcile()  # any API call lets DocuSeal's expiry job run; its webhook and the poll agree
    run_jobs("webhooks")
    request = SignatureRequest.objects.get(quote=quote)
    quote.refresh_from_db()
    assert request.status == SignatureRequest.Status.EXPIRED and quote.status == Quote.Status.EXPIRED
    assert request.signers.get().status == Signer.Status.EXPIRED
    assert sum("expiré" in m for m in timeline(quote)) == 2  # the signer's and the request's, once each


def test_the_edition_is_asked_again_after_a_day_so_an_upgrade_to_pro_is_noticed(sandbox, quote, staff, quote_pdf):
    from apps.docuseal.actions import may_accept_pdf

    connection, account, _template = sandbox
    connection.config = {**connection.config, "edition": "open_source",
                         "edition_detected_at": timezone.now().isoformat()}
    connection.save()
    assert not may_accept_pdf(connection)  # no useless PDF upload right after DocuSeal said "Pro Edition"
    connection.config["edition_detected_at"] = (timezone.now() - timedelta(days=2)).isoformat()
    connection.save()
    run = send(quote, staff)  # the sandbox account is Pro now
    assert run.status == ActionRun.Status.SUCCEEDED
    connection.refresh_from_db()
    assert connection.config["edition"] == "pro"
    assert SignatureRequest.objects.get(quote=quote).source == SignatureRequest.Source.PDF
