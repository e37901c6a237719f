"""The DocuSeal buttons against vendor-shaped answers: exactly what the signer is sent (who, in which order, the
amount to the cent, until when), the template fields each signer gets, a retried run finding its submission,
re-sending to who has not signed yet, cancelling, and every refusal in French."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import date, timedelta

import pytest
import requests
import responses
from django.utils import timezone

from apps.core import actions, documents
from apps.core.actions import ActionFailed
from apps.core.documents import DocumentFile, DocumentUnavailable, Issuer
from apps.core.http import AuthenticationError, CircuitOpen, ClientError, NetworkError, RateLimited, ServerError
from apps.core.models import ActionRun, TimelineEntry
from apps.docuseal.actions import (CancelSignature, ResendSignature, SendForSignature, failure, may_accept_pdf,
                                   remember_edition)
from apps.docuseal.models import SignatureRequest, Signer
from apps.hub.models import Contact, Quote

pytestmark = pytest.mark.django_db

API = "https://sign.example.test/api"
PDF = b"%PDF-1.4 devis D-0042"
PRO_ONLY = {"error": "Not found. This feature is available in Pro Edition: https://www.docuseal.com/pricing"}


@pytest.fixture
def quote_pdf():
    documents.register(Quote, "test-pdf", lambda quote: DocumentFile(f"devis-{quote.number}.pdf", PDF, "Test"))
    yield
    documents.unregister(Quote, "test-pdf")


@pytest.fixture
def vendor(connection, redis_connection):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{API}/submitters", json={"data": [], "pagination": {}})
        yield mock


def click(action_class, quote, user) -> ActionRun:
    run, _created = actions.start(actions.get(action_class.key), quote, user, secrets.token_hex(16))
    actions.execute(run.pk)
    run.refresh_from_db()
    return run


def sent_body(vendor, path: str) -> dict:
    return json.loads(next(c.request.body for c in vendor.calls if c.request.method == "POST"
                           and c.request.url.split("?")[0] == f"{API}/{path}"))


def submission(submission_id=12, *signers, template=None) -> dict:
    signers = signers or ({"id": 31, "email": "claire@atelier.example", "name": "Claire Moreau", "role": "Signataire 1",
                           "status": "sent", "embed_src": "https://sign.example.test/s/abc"},)
    return {"id": submission_id, "submitters": list(signers), "template": template}


def second_contact(quote):
    return Contact.objects.create(company=quote.company, first_name="Marc", last_name="Petit",
                                  email="marc@atelier.example")


# What the client receives ------------------------------------------------------------------------------------
def test_the_signature_request_names_the_client_s_email_the_total_to_the_cent_and_the_last_valid_day(
        vendor, quote, staff, quote_pdf):
    quote.valid_until = date(2026, 3, 31)
    quote.save()
    vendor.post(f"{API}/submissions/pdf", json=submission())
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    body = sent_body(vendor, "submissions/pdf")
    assert body["send_email"] is True and body["order"] == "preserved"
    assert body["expire_at"] == "2026-03-31 23:59:59 UTC"
    assert body["message"]["subject"] == "Devis D-0042 à signer"
    assert body["message"]["body"] == ("Bonjour,\n\nVoici le devis D-0042 (2\xa0160,00 EUR) à signer : "
                                       "{{submitter.link}}\n\nMerci.")
    assert body["name"] == "Devis D-0042"
    [document] = body["documents"]
    assert document["name"] == "devis-D-0042" and base64.b64decode(document["file"]) == PDF
    assert document["fields"] == [{"name": "Signature 1", "type": "signature", "role": "Signataire 1",
                                   "required": True,
                                   "areas": [{"x": 0.08, "y": 0.85, "w": 0.25, "h": 0.06, "page": 1}]}]
    assert body["submitters"] == [{"role": "Signataire 1", "email": "claire@atelier.example", "name": "Claire Moreau",
                                   "order": 0, "external_id": f"console-quote-{quote.pk}-run-{run.pk}-0",
                                   "metadata": {"console_quote": quote.pk}}]
    assert run.message == "Devis D-0042 envoyé pour signature à Claire Moreau (DocuSeal, soumission n° 12)."
    assert run.external_ids["docuseal_submission_id"] == 12 and run.external_ids["docuseal_source"] == "pdf"


def test_a_quote_without_validity_date_never_expires_and_without_number_is_named_by_its_id(vendor, quote, staff,
                                                                                           quote_pdf):
    Quote.objects.filter(pk=quote.pk).update(number="")
    vendor.post(f"{API}/submissions/pdf", json=submission())
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    body = sent_body(vendor, "submissions/pdf")
    assert "expire_at" not in body
    assert body["message"]["subject"] == f"Devis {quote.pk} à signer" and body["name"] == f"Devis {quote.pk}"
    assert run.message.startswith(f"Devis {quote.pk} envoyé pour signature")


def test_two_contacts_sign_in_order_the_primary_first_each_with_a_signature_box_side_by_side(vendor, quote, staff,
                                                                                             quote_pdf):
    second_contact(quote)
    vendor.post(f"{API}/submissions/pdf", json=submission(
        12, {"id": 41, "email": "marc@atelier.example", "name": "Marc Petit", "role": "Signataire 2"},
        {"id": 40, "email": "claire@atelier.example", "name": "Claire Moreau", "role": "Signataire 1",
         "status": "sent"}))
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    body = sent_body(vendor, "submissions/pdf")
    assert [(s["email"], s["order"], s["role"], s["external_id"][-2:]) for s in body["submitters"]] == [
        ("claire@atelier.example", 0, "Signataire 1", "-0"), ("marc@atelier.example", 1, "Signataire 2", "-1")]
    fields = body["documents"][0]["fields"]
    assert [(f["name"], f["role"], f["areas"][0]["x"]) for f in fields] == [
        ("Signature 1", "Signataire 1", 0.08), ("Signature 2", "Signataire 2", 0.38)]
    # Kept in DocuSeal's signing order (by submitter id), whatever order the answer lists them in.
    request = SignatureRequest.objects.get(quote=quote)
    signers = [(s.order, s.submitter_id, s.email, s.role, s.status, s.signing_url) for s in request.signers.all()]
    assert signers == [(0, 40, "claire@atelier.example", "Signataire 1", Signer.Status.SENT, ""),
                       (1, 41, "marc@atelier.example", "Signataire 2", Signer.Status.SENT, "")]
    assert run.message == ("Devis D-0042 envoyé pour signature à Claire Moreau, Marc Petit (DocuSeal, soumission "
                           "n° 12).")
    [entry] = TimelineEntry.objects.filter(object_id=str(quote.pk), provider="docuseal")
    assert entry.message == "Envoyé pour signature (pdf du devis) à Claire Moreau (envoyé), Marc Petit (envoyé)."
    assert entry.external_ids == {"docuseal_submission_id": 12}


def more_contacts(quote, count: int) -> None:
    Contact.objects.bulk_create(Contact(company=quote.company, first_name="Signataire", last_name=str(number),
                                        email=f"signataire{number}@atelier.example") for number in range(count))


def overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def test_each_of_thirty_signers_gets_a_signature_box_of_their_own_on_the_page(vendor, quote, staff, quote_pdf):
    more_contacts(quote, 29)
    vendor.post(f"{API}/submissions/pdf", json=submission())
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    boxes = [field["areas"][0] for field in sent_body(vendor, "submissions/pdf")["documents"][0]["fields"]]
    assert len(boxes) == 30
    assert all(box["page"] == 1 and 0 <= box["x"] and box["x"] + box["w"] <= 1 and 0 <= box["y"]
               and box["y"] + box["h"] <= 1 for box in boxes)
    assert [(a, b) for a in range(30) for b in range(a + 1, 30) if overlap(boxes[a], boxes[b])] == []
    # The first row at the foot of the page, three side by side; the next rows above it.
    assert [(box["x"], box["y"]) for box in boxes[:4]] == [(0.08, 0.85), (0.38, 0.85), (0.68, 0.85), (0.08, 0.77)]


def test_more_signers_than_the_page_holds_is_refused_before_anything_is_sent(vendor, quote, staff, quote_pdf):
    more_contacts(quote, 30)
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert run.message == ("Le devis D-0042 ne peut pas porter plus de 30 signatures : 31 contacts de Atelier Lumière "
                           "SARL ont une adresse e-mail. Retirez-la des contacts qui ne signent pas.")
    assert [c for c in vendor.calls if c.request.method == "POST"] == []
    assert not SignatureRequest.objects.filter(quote=quote).exists()


def test_the_request_remembers_each_signer_s_link_status_and_the_quote_s_pdf(vendor, quote, staff, quote_pdf):
    vendor.post(f"{API}/submissions/pdf", json=submission(12, {
        "id": 31, "email": "claire@atelier.example", "name": "", "role": "", "status": "opened",
        "embed_src": "https://sign.example.test/s/abc"}))
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    request = SignatureRequest.objects.get(quote=quote)
    assert (request.connection.slug, request.submission_id, request.source, request.template_id) == (
        "ds", 12, SignatureRequest.Source.PDF, None)
    signer = request.signers.get()
    assert (signer.status, signer.signing_url, signer.name) == (Signer.Status.OPENED, "https://sign.example.test/s/abc",
                                                               "")
    assert (signer.role, signer.email, signer.order) == ("", "claire@atelier.example", 0)
    assert run.message == "Devis D-0042 envoyé pour signature à claire@atelier.example (DocuSeal, soumission n° 12)."
    assert not actions.get(SendForSignature.key).is_available(quote, staff)  # pending: no second send


def test_a_signer_status_docuseal_invents_is_read_as_sent(vendor, quote, staff, quote_pdf):
    vendor.post(f"{API}/submissions/pdf", json=submission(12, {"id": 31, "email": "claire@atelier.example",
                                                               "status": "waiting-for-godot"}))
    click(SendForSignature, quote, staff)
    assert Signer.objects.get().status == Signer.Status.SENT


def test_a_signer_docuseal_lists_without_an_email_is_kept_with_none(vendor, quote, staff, quote_pdf):
    vendor.post(f"{API}/submissions/pdf", json=submission(12, {"id": 31, "name": "Claire Moreau", "status": "sent"}))
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert Signer.objects.get().email == ""
    assert run.message == "Devis D-0042 envoyé pour signature à Claire Moreau (DocuSeal, soumission n° 12)."


# The open-source edition: the acceptance template ---------------------------------------------------------------
TEMPLATE = {
    "id": 7, "name": "Acceptation de devis",
    "submitters": [{"name": "Client", "uuid": "u-client"}, {"name": "Témoin", "uuid": "u-witness"}],
    "fields": [{"name": "Numéro du devis", "submitter_uuid": "u-client"},
               {"name": "Montant TTC", "submitter_uuid": "u-witness"},
               {"name": "Valable jusqu'au", "submitter_uuid": "u-gone"},
               {"name": "Client"},
               {"name": "Signature", "type": "signature", "submitter_uuid": "u-client"}],
}


@pytest.fixture
def open_source(vendor, connection):
    connection.config = {**connection.config, "edition": "open_source",
                         "edition_detected_at": timezone.now().isoformat()}
    connection.save()
    vendor.get(f"{API}/templates/7", json=TEMPLATE)
    return vendor


def created_submitters(*emails, submission_id=15):
    return [{"id": 50 + n, "submission_id": submission_id, "email": email, "status": "sent"}
            for n, email in enumerate(emails)]


def test_each_template_signer_gets_the_quote_values_of_its_own_fields(open_source, quote, staff):
    second_contact(quote)
    quote.valid_until = date(2026, 4, 5)
    quote.save()
    open_source.post(f"{API}/submissions", json=created_submitters("claire@atelier.example", "marc@atelier.example"))
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert not [c for c in open_source.calls if c.request.url.endswith("/submissions/pdf")]
    body = sent_body(open_source, "submissions")
    assert body["template_id"] == 7 and body["message"]["subject"] == "Devis D-0042 à signer"
    client, witness = body["submitters"]
    assert (client["role"], client["email"], client["order"]) == ("Client", "claire@atelier.example", 0)
    # Its own fields, a field of no role (everyone's), and that of a removed role (the first signer's).
    assert client["values"] == {"Numéro du devis": "D-0042", "Valable jusqu'au": "05/04/2026",
                                "Client": "Atelier Lumière SARL"}
    assert (witness["role"], witness["email"], witness["values"]) == (
        "Témoin", "marc@atelier.example", {"Montant TTC": "2\xa0160,00 EUR", "Client": "Atelier Lumière SARL"})
    request = SignatureRequest.objects.get(quote=quote)
    assert (request.submission_id, request.source, request.template_id) == (15, SignatureRequest.Source.TEMPLATE, 7)
    assert [s.submitter_id for s in request.signers.all()] == [50, 51]
    assert run.external_ids["docuseal_source"] == "template"


def test_a_signer_with_none_of_the_fields_gets_no_values_and_renamed_fields_are_filled(open_source, quote, staff,
                                                                                        connection):
    connection.config = {**connection.config, "template_fields": {"number": "Référence", "valid_until": "Échéance"}}
    connection.save()
    second_contact(quote)
    template = {**TEMPLATE, "fields": [{"name": "Référence", "submitter_uuid": "u-client"},
                                       {"name": "Numéro du devis", "submitter_uuid": "u-client"}]}
    open_source.replace(responses.GET, f"{API}/templates/7", json=template)
    open_source.post(f"{API}/submissions", json=created_submitters("claire@atelier.example", "marc@atelier.example"))
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    client, witness = sent_body(open_source, "submissions")["submitters"]
    assert client["values"] == {"Référence": "D-0042"} and "values" not in witness


def test_a_quote_without_validity_date_fills_the_template_s_date_field_with_a_dash(open_source, quote, staff):
    template = {**TEMPLATE, "submitters": TEMPLATE["submitters"][:1],
                "fields": [{"name": "Valable jusqu'au", "submitter_uuid": "u-client"}]}
    open_source.replace(responses.GET, f"{API}/templates/7", json=template)
    open_source.post(f"{API}/submissions", json=created_submitters("claire@atelier.example"))
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    [client] = sent_body(open_source, "submissions")["submitters"]
    assert client["values"] == {"Valable jusqu'au": "—"}


def test_a_template_needing_more_signers_than_the_client_has_is_refused_with_the_counts(open_source, quote, staff):
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert run.message == ("Le modèle DocuSeal « Acceptation de devis » attend 2 signataires ; Atelier Lumière SARL "
                           "n'a que 1 contact(s) avec e-mail.")
    assert not [c for c in open_source.calls if c.request.method == "POST"]


def test_a_template_without_signer_role_or_without_expected_field_is_refused_by_name(open_source, quote, staff):
    open_source.replace(responses.GET, f"{API}/templates/7", json={**TEMPLATE, "submitters": []})
    run = click(SendForSignature, quote, staff)
    assert run.message == "Le modèle DocuSeal « Acceptation de devis » n'a aucun rôle de signataire."
    open_source.replace(responses.GET, f"{API}/templates/7", json={
        **TEMPLATE, "submitters": TEMPLATE["submitters"][:1], "fields": [{"name": "Signature"}]})
    run = click(SendForSignature, quote, staff)
    assert run.message == ("Le modèle DocuSeal « Acceptation de devis » n'a aucun des champs attendus (« Numéro du "
                           "devis », « Client », « Montant TTC », « Valable jusqu'au ») : ajoutez-les au modèle ou "
                           "changez leurs noms dans la configuration de la connexion.")
    assert not [c for c in open_source.calls if c.request.method == "POST"]


def test_without_a_configured_template_the_open_source_edition_refuses_readably(open_source, connection, quote,
                                                                                staff):
    connection.config = {key: value for key, value in connection.config.items() if key != "template_id"}
    connection.save()
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert run.message == ("Aucun modèle d'acceptation DocuSeal n'est configuré sur la connexion (nécessaire quand "
                           "DocuSeal n'accepte pas le PDF du devis) : choisissez-le sur la page DocuSeal.")


def test_docuseal_creating_no_signer_is_a_failure_not_an_empty_request(open_source, quote, staff):
    open_source.replace(responses.GET, f"{API}/templates/7", json={**TEMPLATE, "submitters": TEMPLATE["submitters"][:1]})
    open_source.post(f"{API}/submissions", json=[])
    run = click(SendForSignature, quote, staff)
    assert (run.status, run.message) == (ActionRun.Status.FAILED, "DocuSeal n'a créé aucun signataire.")
    assert not SignatureRequest.objects.exists()


def test_a_pro_only_answer_is_remembered_and_the_template_is_used_instead(vendor, connection, quote, staff,
                                                                          quote_pdf):
    vendor.post(f"{API}/submissions/pdf", status=404, json=PRO_ONLY)
    vendor.get(f"{API}/templates/7", json={**TEMPLATE, "submitters": TEMPLATE["submitters"][:1]})
    vendor.post(f"{API}/submissions", json=created_submitters("claire@atelier.example"))
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    connection.refresh_from_db()
    assert connection.config["edition"] == "open_source" and connection.config["edition_detected_at"]
    assert SignatureRequest.objects.get().source == SignatureRequest.Source.TEMPLATE


def test_without_a_pdf_from_any_system_the_template_is_used(vendor, connection, quote, staff):
    vendor.get(f"{API}/templates/7", json={**TEMPLATE, "submitters": TEMPLATE["submitters"][:1]})
    vendor.post(f"{API}/submissions", json=created_submitters("claire@atelier.example"))
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert not [c for c in vendor.calls if c.request.url.endswith("/submissions/pdf")]
    connection.refresh_from_db()
    assert "edition" not in connection.config  # nothing was learnt about the edition


def test_a_pdf_the_quote_s_system_cannot_give_now_stops_the_send_with_its_reason(vendor, quote, staff):
    def unavailable(quote):
        raise DocumentUnavailable("Invoice Ninja est injoignable")

    documents.register(Quote, "test-pdf", unavailable)
    try:
        run = click(SendForSignature, quote, staff)
    finally:
        documents.unregister(Quote, "test-pdf")
    assert (run.status, run.message) == (ActionRun.Status.FAILED,
                                         "PDF du devis indisponible : Invoice Ninja est injoignable")
    assert not [c for c in vendor.calls if c.request.method == "POST"]


def test_the_edition_seen_is_kept_with_when_and_pro_is_written_once(connection):
    remember_edition(connection, "pro")
    connection.refresh_from_db()
    first_seen = connection.config["edition_detected_at"]
    assert connection.config["edition"] == "pro" and first_seen
    connection.config["edition_detected_at"] = "2020-01-01T00:00:00+00:00"
    connection.save()
    remember_edition(connection, "pro")
    connection.refresh_from_db()
    assert connection.config["edition_detected_at"] == "2020-01-01T00:00:00+00:00"
    remember_edition(connection, "open_source")
    remember_edition(connection, "open_source")  # each "Pro Edition" answer restarts the day before asking again
    connection.refresh_from_db()
    assert connection.config["edition"] == "open_source"
    assert connection.config["edition_detected_at"] > "2020-01-01"


def test_learning_the_edition_writes_only_the_connection_s_config(connection):
    from apps.core.models import Connection

    # An administrator renames the connection and changes its key while a send is running.
    Connection.objects.filter(pk=connection.pk).update(name="DocuSeal (production)",
                                                       secrets={"api_key": "ds-key-new-0123456789"})
    remember_edition(connection, "open_source")
    connection.refresh_from_db()
    assert connection.config["edition"] == "open_source"
    assert (connection.name, connection.secrets) == ("DocuSeal (production)", {"api_key": "ds-key-new-0123456789"})


def test_the_pdf_is_tried_unless_docuseal_said_open_source_within_the_day(connection):
    assert may_accept_pdf(connection)
    connection.config = {**connection.config, "edition": "pro", "edition_detected_at": timezone.now().isoformat()}
    assert may_accept_pdf(connection)
    connection.config["edition"] = "open_source"
    assert not may_accept_pdf(connection)
    connection.config["edition_detected_at"] = (timezone.now() - timedelta(hours=23)).isoformat()
    assert not may_accept_pdf(connection)
    connection.config["edition_detected_at"] = (timezone.now() - timedelta(hours=25)).isoformat()
    assert may_accept_pdf(connection)
    connection.config["edition_detected_at"] = ""
    assert may_accept_pdf(connection)


def test_docuseal_is_asked_again_only_once_a_full_day_has_passed(connection, monkeypatch):
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    connection.config = {**connection.config, "edition": "open_source",
                         "edition_detected_at": (now - timedelta(days=1)).isoformat()}
    assert not may_accept_pdf(connection)
    connection.config["edition_detected_at"] = (now - timedelta(days=1, microseconds=1)).isoformat()
    assert may_accept_pdf(connection)


# A retried run --------------------------------------------------------------------------------------------------
def test_a_retried_run_knowing_its_submission_reads_it_instead_of_sending_again(vendor, connection, quote, staff,
                                                                                quote_pdf):
    run, _created = actions.start(actions.get(SendForSignature.key), quote, staff, secrets.token_hex(16))
    actions.save_progress(run, docuseal_submission_id=12)
    vendor.get(f"{API}/submissions/12", json=submission(12))
    actions.execute(run.pk)
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert not [c for c in vendor.calls if c.request.method == "POST"]
    request = SignatureRequest.objects.get(quote=quote)
    assert (request.submission_id, request.source) == (12, SignatureRequest.Source.PDF)


def test_a_run_whose_worker_died_before_saving_the_submission_finds_it_by_its_marker_and_keeps_its_id(
        vendor, quote, staff, quote_pdf):
    run, _created = actions.start(actions.get(SendForSignature.key), quote, staff, secrets.token_hex(16))
    vendor.replace(responses.GET, f"{API}/submitters", json={
        "data": [{"id": 31, "submission_id": 12, "email": "claire@atelier.example",
                  "external_id": f"console-quote-{quote.pk}-run-{run.pk}-0"}], "pagination": {}})
    vendor.get(f"{API}/submissions/12", json=submission(12))
    actions.execute(run.pk)
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert not [c for c in vendor.calls if c.request.method == "POST"]
    asked = next(c.request for c in vendor.calls if c.request.url.split("?")[0] == f"{API}/submitters")
    assert f"external_id=console-quote-{quote.pk}-run-{run.pk}-0" in asked.url
    # Kept on the run, for the relaunch and the audit.
    assert run.external_ids["docuseal_submission_id"] == 12


def test_another_quote_awaiting_its_signatures_leaves_this_quote_s_button_available(connection, quote, staff):
    other = Quote.objects.create(company=quote.company, title="Autre", number="D-0043", status=Quote.Status.SENT)
    SignatureRequest.objects.create(quote=other, connection=connection, submission_id=99,
                                    source=SignatureRequest.Source.PDF, status=SignatureRequest.Status.PENDING)
    assert SendForSignature().unavailable_reason(quote, staff) is None
    assert SendForSignature().unavailable_reason(other, staff) is not None


def test_a_relaunched_pdf_send_stays_a_pdf_send_though_docuseal_names_the_template_it_made_of_the_pdf(
        vendor, quote, staff, quote_pdf):
    """DocuSeal builds a template behind every /submissions/pdf, and GET /submissions/{id} names it (the
    OpenAPI schema makes `template` required): only the source the run recorded tells the two apart."""
    run, _created = actions.start(actions.get(SendForSignature.key), quote, staff, secrets.token_hex(16))
    actions.save_progress(run, docuseal_submission_id=12, docuseal_source="pdf")
    vendor.get(f"{API}/submissions/12", json=submission(12, template={"id": 88, "name": "Devis D-0042"}))
    actions.execute(run.pk)
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    request = SignatureRequest.objects.get(quote=quote)
    assert (request.submission_id, request.source) == (12, SignatureRequest.Source.PDF)


def test_a_send_failing_after_docuseal_created_the_submission_keeps_its_id_for_the_relaunch(vendor, quote, staff,
                                                                                              quote_pdf):
    vendor.post(f"{API}/submissions/pdf", json=submission(12, {"email": "claire@atelier.example"}))  # no id: unusable
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert (run.external_ids["docuseal_submission_id"], run.external_ids["docuseal_source"]) == (12, "pdf")
    vendor.get(f"{API}/submissions/12", json=submission(12))
    before = len(vendor.calls)
    actions.relaunch(run, staff)
    actions.execute(run.pk)
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert [(c.request.method, c.request.url) for c in vendor.calls[before:]] == [("GET", f"{API}/submissions/12")]
    assert SignatureRequest.objects.get(quote=quote).submission_id == 12


def test_a_template_send_failing_after_docuseal_created_it_keeps_its_id_and_source(open_source, quote, staff):
    open_source.replace(responses.GET, f"{API}/templates/7", json={**TEMPLATE, "submitters": TEMPLATE["submitters"][:1]})
    open_source.post(f"{API}/submissions", json=[{"submission_id": 15, "email": "claire@atelier.example"}])  # no id
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert (run.external_ids["docuseal_submission_id"], run.external_ids["docuseal_source"]) == (15, "template")


def test_a_retried_run_finds_its_submission_by_its_first_signer_s_marker(vendor, connection, quote, staff, quote_pdf):
    run, _created = actions.start(actions.get(SendForSignature.key), quote, staff, secrets.token_hex(16))
    marker = f"console-quote-{quote.pk}-run-{run.pk}-0"
    vendor.replace(responses.GET, f"{API}/submitters", json={"data": [{"id": 50, "submission_id": 15}]},
                   match=[responses.matchers.query_param_matcher({"external_id": marker, "limit": "1"})])
    vendor.get(f"{API}/submissions/15", json=submission(15, template={"id": 7, "name": "Acceptation"}))
    actions.execute(run.pk)
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert not [c for c in vendor.calls if c.request.method == "POST"]
    request = SignatureRequest.objects.get(quote=quote)
    assert (request.submission_id, request.source, request.template_id) == (15, SignatureRequest.Source.TEMPLATE, 7)


# A draft is issued first -----------------------------------------------------------------------------------------
@pytest.fixture
def issuer():
    issued = []

    def issue(quote, run):
        if quote.notes == "refusé":
            raise DocumentUnavailable("numéro déjà pris")
        issued.append(quote.pk)
        actions.save_progress(run, facturier_quote_id="F-99")  # as an issuer does, for a relaunch to resume
        Quote.objects.filter(pk=quote.pk).update(number="D-0099", status=Quote.Status.SENT)

    documents.register_issuer(Quote, "test-issuer", Issuer(label="Facturier", can_issue=lambda q: q.lines.exists(),
                                                           issue=issue))
    yield issued
    documents.register_issuer(Quote, "test-issuer", Issuer(label="Facturier", can_issue=lambda q: False,
                                                           issue=issue))


def test_a_draft_is_numbered_where_it_will_be_invoiced_before_the_client_is_asked_to_sign(vendor, quote, staff,
                                                                                          issuer, quote_pdf):
    Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.DRAFT, number="")
    quote.refresh_from_db()
    action = actions.get(SendForSignature.key)
    details = dict(action.confirmation_details(quote))
    assert details["Avant l'envoi"] == ("le devis est enregistré dans Facturier avec son numéro définitif et marqué "
                                        "envoyé, sans e-mail de Facturier")
    vendor.post(f"{API}/submissions/pdf", json=submission())
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert issuer == [quote.pk]
    assert run.external_ids["facturier_quote_id"] == "F-99"  # kept on the click's own run
    assert sent_body(vendor, "submissions/pdf")["message"]["subject"] == "Devis D-0099 à signer"


def test_a_quote_already_sent_is_neither_announced_nor_issued_again_even_when_a_system_could(vendor, quote, staff,
                                                                                              issuer, quote_pdf):
    details = dict(SendForSignature().confirmation_details(quote))
    assert list(details) == ["Client", "Total TTC", "Signataires, dans l'ordre"]
    vendor.post(f"{API}/submissions/pdf", json=submission())
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert issuer == []


def test_a_draft_its_system_refuses_to_issue_is_not_sent_for_signature(vendor, quote, staff, issuer, quote_pdf):
    Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.DRAFT, notes="refusé")
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert run.message == ("Le devis n'a pas pu être enregistré avant l'envoi pour signature : numéro déjà pris")
    assert not [c for c in vendor.calls if c.request.method == "POST"]


def test_a_draft_nobody_can_issue_is_not_offered_and_says_why_if_run(connection, quote, staff):
    Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.DRAFT)
    quote.refresh_from_db()
    assert not actions.get(SendForSignature.key).is_available(quote, staff)
    with pytest.raises(ActionFailed) as refusal:
        SendForSignature().issue(quote, ActionRun())
    assert str(refusal.value) == ("Ce devis est un brouillon et aucun système ne peut l'enregistrer maintenant : "
                                  "envoyez-le d'abord.")


def test_the_confirmation_shows_the_client_the_total_and_the_signers_in_order(connection, quote):
    second_contact(quote)
    Contact.objects.create(company=quote.company, first_name="Sans", last_name="Adresse", email="")
    details = SendForSignature().confirmation_details(quote)
    assert details == [("Client", "Atelier Lumière SARL"), ("Total TTC", "2\xa0160,00 EUR"),
                       ("Signataires, dans l'ordre",
                        "Claire Moreau <claire@atelier.example>, Marc Petit <marc@atelier.example>")]
    quote.company.contacts.update(email="")
    assert dict(SendForSignature().confirmation_details(quote))["Signataires, dans l'ordre"] == \
        "(aucun contact avec e-mail)"


# Re-send and cancel ----------------------------------------------------------------------------------------------
@pytest.fixture
def pending(connection, quote):
    request = SignatureRequest.objects.create(connection=connection, quote=quote, submission_id=12,
                                              source=SignatureRequest.Source.PDF)
    for order, (submitter_id, email, status) in enumerate([(31, "claire@atelier.example", Signer.Status.COMPLETED),
                                                            (32, "marc@atelier.example", Signer.Status.OPENED),
                                                            (33, "lea@atelier.example", Signer.Status.STARTED),
                                                            (34, "jo@atelier.example", Signer.Status.AWAITING),
                                                            (35, "zoe@atelier.example", Signer.Status.SENT)]):
        request.signers.create(submitter_id=submitter_id, order=order, email=email, status=status)
    return request


def test_resending_reaches_only_the_signers_who_have_not_signed_yet_once_each(vendor, pending, quote, staff):
    for submitter_id in (32, 33, 35):
        vendor.put(f"{API}/submitters/{submitter_id}", json={"id": submitter_id},
                   match=[responses.matchers.json_params_matcher({"send_email": True})])
    run = click(ResendSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert sorted(c.request.url for c in vendor.calls if c.request.method == "PUT") == [
        f"{API}/submitters/32", f"{API}/submitters/33", f"{API}/submitters/35"]
    assert run.message == ("Demande de signature renvoyée à marc@atelier.example, lea@atelier.example, "
                           "zoe@atelier.example.")
    assert run.external_ids["resent_to"] == [32, 33, 35] and run.external_ids["docuseal_submission_id"] == 12
    [entry] = TimelineEntry.objects.filter(object_id=str(quote.pk), provider="docuseal")
    assert entry.message == ("Demande de signature renvoyée à marc@atelier.example, lea@atelier.example, "
                             "zoe@atelier.example.")
    assert entry.external_ids == {"docuseal_submission_id": 12}


def test_a_retried_resend_skips_who_it_already_reached(vendor, pending, quote, staff):
    vendor.put(f"{API}/submitters/35", json={"id": 35})
    run, _created = actions.start(actions.get(ResendSignature.key), quote, staff, secrets.token_hex(16))
    actions.save_progress(run, resent_to=[32, 33])
    actions.execute(run.pk)
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert [c.request.url for c in vendor.calls if c.request.method == "PUT"] == [f"{API}/submitters/35"]


def test_resending_when_nobody_waits_to_sign_is_refused(vendor, pending, quote, staff):
    pending.signers.exclude(status=Signer.Status.COMPLETED).update(status=Signer.Status.AWAITING)
    run = click(ResendSignature, quote, staff)
    assert (run.status, run.message) == (ActionRun.Status.FAILED,
                                         "Aucun signataire n'attend de signer en ce moment.")
    assert not [c for c in vendor.calls if c.request.method == "PUT"]


def test_cancelling_archives_the_submission_and_closes_the_request(vendor, pending, quote, staff):
    vendor.delete(f"{API}/submissions/12", json={"id": 12, "archived_at": "2026-01-01T00:00:00Z"})
    assert actions.get(CancelSignature.key).is_available(quote, staff)
    run = click(CancelSignature, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == "Demande de signature annulée (soumission DocuSeal n° 12 archivée)."
    assert run.external_ids["docuseal_submission_id"] == 12
    pending.refresh_from_db()
    assert pending.status == SignatureRequest.Status.ARCHIVED
    assert not actions.get(CancelSignature.key).is_available(quote, staff)
    assert not actions.get(ResendSignature.key).is_available(quote, staff)
    assert actions.get(SendForSignature.key).is_available(quote, staff)


def test_cancel_or_resend_without_a_pending_request_refuses_in_french(connection, quote):
    for action_class in (CancelSignature, ResendSignature):
        with pytest.raises(ActionFailed) as refusal:
            action_class().perform(quote, ActionRun(), connection, None)
        assert str(refusal.value) == "Aucune demande de signature en cours pour ce devis."


# Failures read in French -----------------------------------------------------------------------------------------
def test_each_failure_reads_in_french_and_says_whether_to_retry():
    cases = [
        (AuthenticationError("Not authenticated", status=401),
         "DocuSeal refuse la clé API de la connexion (Not authenticated) : vérifiez-la dans l'administration."),
        (NetworkError("timeout", maybe_sent=True),
         "DocuSeal n'a pas répondu ; relancez l'action : elle retrouvera la demande déjà créée au lieu d'en envoyer "
         "une seconde."),
        (ServerError("HTTP 502", status=502, maybe_sent=True),
         "DocuSeal n'a pas répondu ; relancez l'action : elle retrouvera la demande déjà créée au lieu d'en envoyer "
         "une seconde."),
        (NetworkError("refused", maybe_sent=False),
         "DocuSeal est injoignable (refused) ; rien n'a été envoyé, réessayez plus tard."),
        (CircuitOpen("circuit ouvert"), "DocuSeal est injoignable (circuit ouvert) ; rien n'a été envoyé, réessayez "
                                        "plus tard."),
        (ClientError("email is invalid", status=422), "DocuSeal a refusé la demande : email is invalid"),
        (RateLimited("HTTP 429 : trop de requêtes", status=429), "DocuSeal : HTTP 429 : trop de requêtes"),
    ]
    for error, message in cases:
        assert str(failure(error)) == message


def test_docuseal_refusing_the_key_says_so_and_nothing_is_kept(vendor, quote, staff, quote_pdf):
    vendor.post(f"{API}/submissions/pdf", status=401, json={"error": "Not authenticated"})
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert run.message.startswith("DocuSeal refuse la clé API de la connexion (Not authenticated)")
    assert not SignatureRequest.objects.exists()


def test_without_an_active_connection_the_action_says_so(db, quote):
    with pytest.raises(ActionFailed) as refusal:
        SendForSignature().run(quote, ActionRun())
    assert str(refusal.value) == "Aucune connexion DocuSeal active."


def test_an_unreachable_docuseal_is_said_in_french(vendor, quote, staff, quote_pdf):
    vendor.post(f"{API}/submissions/pdf", body=requests.ConnectionError("refused"))
    run = click(SendForSignature, quote, staff)
    assert run.status == ActionRun.Status.FAILED and run.message.startswith("DocuSeal")
    assert "Traceback" not in run.message
