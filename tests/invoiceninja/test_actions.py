"""Contextual actions against vendor-shaped answers: ids saved before the e-mail, resume, 422, double clicks."""

import json
import secrets

import pytest
import requests
import responses
from responses import matchers

from apps.core import actions
from apps.core.models import ActionRun
from apps.hub.models import Invoice, Quote
from apps.invoiceninja.actions import ConvertQuote, MarkInvoicePaid, SendQuote
from apps.invoiceninja.client import InvoiceNinjaClient
from apps.invoiceninja.models import ClientLink, InvoiceLink, QuoteLink
from tests.invoiceninja.conftest import API, fixture

pytestmark = pytest.mark.django_db


def execute(action_class, obj, user) -> ActionRun:
    run, _created = actions.start(actions.get(action_class.key), obj, user, secrets.token_hex(16))
    actions.execute(run.pk)
    run.refresh_from_db()
    return run


def empty_list():
    return {"data": [], "meta": {"pagination": {"total": 0, "count": 0, "per_page": 100, "current_page": 1,
                                                "total_pages": 1, "links": {}}}}


def remote_quote(quote, **changes):
    return {**fixture("quote.json"), "private_notes": f"[console:quote:{quote.pk}]", "status_id": "1", **changes}


@pytest.fixture
def vendor(connection, quote):
    """The calls of a first "Envoyer le devis": nothing exists remotely yet."""
    responses.start()
    responses.get(f"{API}/clients", json=empty_list())
    responses.post(f"{API}/clients", json={"data": fixture("client.json")})
    responses.get(f"{API}/quotes", json=empty_list())
    yield responses
    responses.stop()
    responses.reset()


def test_send_quote_creates_client_and_quote_then_emails_it(vendor, quote, staff, redis_connection, no_pacing):
    vendor.post(f"{API}/quotes", json={"data": remote_quote(quote)})
    vendor.post(f"{API}/emails", json={"data": remote_quote(quote, status_id="2")},
                match=[matchers.json_params_matcher(
                    {"entity": "quote", "entity_id": "Wpmbk5ezJn", "template": "email_template_quote"})])
    run = execute(SendQuote, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.external_ids["invoiceninja_quote_id"] == "Wpmbk5ezJn"
    quote.refresh_from_db()
    assert (quote.status, quote.number) == (Quote.Status.SENT, "0042")
    assert ClientLink.objects.get(company=quote.company).external_id == "VolejRejNm"
    created = json.loads(next(c for c in vendor.calls if c.request.method == "POST"
                              and c.request.url.endswith("/quotes")).request.body)
    assert created["line_items"][1]["cost"] == 350.10 and created["date"] == quote.issue_date.isoformat()
    assert created["private_notes"] == f"[console:quote:{quote.pk}]"


def test_clicking_again_updates_the_same_quote_and_never_creates_a_second(vendor, quote, staff, redis_connection,
                                                                       no_pacing):
    vendor.post(f"{API}/quotes", json={"data": remote_quote(quote)})
    vendor.post(f"{API}/emails", json={"data": remote_quote(quote, status_id="2")})
    vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(quote, status_id="2")})
    execute(SendQuote, quote, staff)
    second = execute(SendQuote, quote, staff)
    assert second.status == ActionRun.Status.SUCCEEDED
    creates = [c for c in vendor.calls if c.request.method == "POST" and c.request.url.endswith("/quotes")]
    assert len(creates) == 1
    assert QuoteLink.objects.filter(quote=quote).count() == 1


def test_a_timeout_on_create_then_a_retry_finds_the_quote_instead_of_creating_it_again(vendor, quote, staff,
                                                                                      redis_connection, no_pacing):
    vendor.post(f"{API}/quotes", body=requests.ReadTimeout("no answer"))
    first = execute(SendQuote, quote, staff)
    assert first.status == ActionRun.Status.FAILED
    assert "reprendra sans rien créer en double" in first.message

    # The vendor did create it: it lists the quote carrying our marker.
    vendor.replace(responses.GET, f"{API}/quotes", json={**empty_list(), "data": [remote_quote(quote)]})
    vendor.post(f"{API}/emails", json={"data": remote_quote(quote, status_id="2")})
    second = execute(SendQuote, quote, staff)
    assert second.status == ActionRun.Status.SUCCEEDED, second.message
    creates = [c for c in vendor.calls if c.request.method == "POST" and c.request.url.endswith("/quotes")]
    assert len(creates) == 1  # only the first, timed-out attempt
    assert QuoteLink.objects.get(quote=quote).external_id == "Wpmbk5ezJn"


def test_ids_are_saved_before_the_email_so_a_failed_email_resumes(vendor, quote, staff, redis_connection,
                                                                  no_pacing):
    vendor.post(f"{API}/quotes", json={"data": remote_quote(quote)})
    vendor.post(f"{API}/emails", status=403, json={"message": "Email confirmation required.", "errors": {}})
    failed = execute(SendQuote, quote, staff)
    assert failed.status == ActionRun.Status.FAILED
    assert failed.message == "Invoice Ninja refuse l'opération : Email confirmation required."
    assert failed.external_ids["invoiceninja_quote_id"] == "Wpmbk5ezJn"
    assert QuoteLink.objects.filter(quote=quote, external_id="Wpmbk5ezJn").exists()
    quote.refresh_from_db()
    assert quote.status == Quote.Status.DRAFT

    vendor.replace(responses.POST, f"{API}/emails", json={"data": remote_quote(quote, status_id="2")})
    vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(quote)})
    retried = execute(SendQuote, quote, staff)
    assert retried.status == ActionRun.Status.SUCCEEDED, (retried.message, retried.error[-1500:])
    assert len([c for c in vendor.calls if c.request.url.endswith("/quotes") and c.request.method == "POST"]) == 1


def test_validation_errors_are_shown_field_by_field(vendor, quote, staff, redis_connection, no_pacing):
    vendor.post(f"{API}/quotes", status=422, json={"message": "The given data was invalid.", "errors": {
        "number": ["The number has already been taken."], "date": ["The date does not match the format Y-m-d."]}})
    run = execute(SendQuote, quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert run.message == ("Invoice Ninja a refusé les données : number : The number has already been taken. ; "
                           "date : The date does not match the format Y-m-d.")
    assert "Traceback" not in run.message


@responses.activate
def test_convert_reads_the_new_invoice_id_and_links_one_hub_invoice(connection, quote, staff, redis_connection,
                                                                    no_pacing):
    quote.status = Quote.Status.ACCEPTED
    quote.save()
    QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn")
    responses.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(quote, status_id="3")})
    responses.post(f"{API}/quotes/bulk", json={"data": [remote_quote(quote, status_id="4", invoice_id="Opnel5aKBz")]},
                   match=[matchers.json_params_matcher({"action": "convert_to_invoice", "ids": ["Wpmbk5ezJn"]})])
    responses.get(f"{API}/invoices/Opnel5aKBz", json={"data": dict(fixture("invoice.json"), status_id="1")})
    run = execute(ConvertQuote, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    invoice = Invoice.objects.get(quote=quote)
    assert (invoice.number, invoice.status, invoice.total) == ("F-0042", Invoice.Status.DRAFT, 768)
    assert InvoiceLink.objects.get(invoice=invoice).external_id == "Opnel5aKBz"
    quote.refresh_from_db()
    assert quote.status == Quote.Status.CONVERTED


@responses.activate
def test_mark_paid_refuses_when_the_vendor_silently_skipped_it(connection, staff, company, redis_connection,
                                                               no_pacing):
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT)
    InvoiceLink.objects.create(connection=connection, invoice=invoice, external_id="Opnel5aKBz")
    responses.post(f"{API}/invoices/bulk", json={"data": [fixture("invoice.json")]})  # still status 2
    run = execute(MarkInvoicePaid, invoice, staff)
    assert run.status == ActionRun.Status.FAILED
    assert run.message == "Invoice Ninja n'a pas marqué la facture payée (statut 2)."
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT


def test_actions_are_offered_only_in_the_right_state(connection, quote, staff):
    send, convert = actions.get(SendQuote.key), actions.get(ConvertQuote.key)
    assert send.unavailable_reason(quote, staff) is None
    assert convert.unavailable_reason(quote, staff) == "Action non applicable dans l'état actuel."
    quote.status = Quote.Status.ACCEPTED
    assert send.unavailable_reason(quote, staff) is not None


def test_pdf_is_streamed_through_the_console_for_staff_only(client, connection, quote, staff):
    QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn")
    url = f"/invoiceninja/quote/{quote.pk}/pdf/"
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": fixture("quote.json")})
        vendor.get(f"{API}/quote/K4tFQVUAcXFdXaO4iQ3ZfaI1J3ZDxj0a/download", body=b"%PDF-1.4 test",
                   content_type="application/pdf")
        client.force_login(staff)
        response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf" and response.content == b"%PDF-1.4 test"
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_a_colleagues_edit_saved_while_the_quote_was_being_sent_is_kept(vendor, quote, staff, redis_connection,
                                                                          no_pacing):
    vendor.post(f"{API}/quotes", json={"data": remote_quote(quote)})

    def colleague_edits_then_vendor_answers(request):
        Quote.objects.filter(pk=quote.pk).update(notes="Remise de 5 % accordée par téléphone")
        return 200, {}, json.dumps({"data": remote_quote(quote, status_id="2")})

    vendor.add_callback(responses.POST, f"{API}/emails", callback=colleague_edits_then_vendor_answers)

    run = execute(SendQuote, quote, staff)

    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    quote.refresh_from_db()
    assert quote.notes == "Remise de 5 % accordée par téléphone"
    assert (quote.status, quote.number) == (Quote.Status.SENT, "0042")


# Approve, convert, issue, send the invoice ---------------------------------------------------------------------
@pytest.fixture
def accepted(connection, quote):
    Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.ACCEPTED, number="0042")
    quote.refresh_from_db()
    QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn")
    return quote


def bulk_calls(mock, entity: str) -> list[dict]:
    return [json.loads(c.request.body) for c in mock.calls if c.request.url == f"{API}/{entity}/bulk"]


def test_a_quote_signed_elsewhere_is_approved_in_invoice_ninja_too(accepted, staff, redis_connection, no_pacing):
    from apps.invoiceninja.actions import ApproveQuote

    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(accepted, status_id="2")})
        vendor.post(f"{API}/quotes/bulk", json={"data": [remote_quote(accepted, status_id="3")]})
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(accepted, status_id="3")})
        run = execute(ApproveQuote, accepted, staff)
        assert bulk_calls(vendor, "quotes") == [{"action": "approve", "ids": ["Wpmbk5ezJn"]}]
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == "Devis 0042 approuvé dans Invoice Ninja."
    assert run.external_ids["invoiceninja_quote_id"] == "Wpmbk5ezJn"
    assert not QuoteLink.objects.get(quote=accepted).has_local_changes(accepted)


@pytest.mark.parametrize("already", [{"status_id": "3"}, {"status_id": "4", "invoice_id": "Opnel5aKBz"}])
def test_a_quote_already_approved_or_converted_is_not_approved_again(accepted, staff, redis_connection, no_pacing,
                                                                      already):
    from apps.invoiceninja.actions import ApproveQuote

    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(accepted, **already)})
        run = execute(ApproveQuote, accepted, staff)
        assert bulk_calls(vendor, "quotes") == []
    assert run.status == ActionRun.Status.SUCCEEDED, run.message


def test_an_approval_invoice_ninja_silently_skipped_is_a_failure_with_its_status(accepted, staff, redis_connection,
                                                                                 no_pacing):
    from apps.invoiceninja.actions import ApproveQuote

    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(accepted, status_id="5")})
        vendor.post(f"{API}/quotes/bulk", json={"data": []})
        run = execute(ApproveQuote, accepted, staff)
    assert (run.status, run.message) == (ActionRun.Status.FAILED,
                                         "Invoice Ninja n'a pas approuvé le devis (statut 5).")


def test_approve_and_convert_are_offered_for_an_accepted_linked_quote_only(connection, quote, staff):
    from apps.invoiceninja.actions import ApproveQuote

    approve, convert = actions.get(ApproveQuote.key), actions.get(ConvertQuote.key)
    Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.ACCEPTED)
    quote.refresh_from_db()
    other = Quote.objects.create(company=quote.company, status=Quote.Status.ACCEPTED)
    QuoteLink.objects.create(connection=connection, quote=other, external_id="Quote0041")
    assert approve.unavailable_reason(quote, staff) and convert.unavailable_reason(quote, staff)  # not linked
    QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn")
    assert approve.unavailable_reason(quote, staff) is None and convert.unavailable_reason(quote, staff) is None
    quote.status = Quote.Status.SENT
    assert approve.unavailable_reason(quote, staff) and convert.unavailable_reason(quote, staff)


def test_approve_or_convert_a_quote_invoice_ninja_does_not_know_says_to_send_it_first(connection, quote):
    from apps.invoiceninja.actions import ApproveQuote
    from apps.invoiceninja.client import InvoiceNinjaClient

    for action_class in (ApproveQuote, ConvertQuote):
        with pytest.raises(actions.ActionFailed) as refusal:
            action_class().perform(quote, ActionRun(), connection, InvoiceNinjaClient(connection))
        assert str(refusal.value) == "Ce devis n'existe pas dans Invoice Ninja : envoyez-le d'abord."


def test_a_quote_already_converted_in_invoice_ninja_is_linked_to_its_invoice_without_a_second_one(
        accepted, staff, redis_connection, no_pacing):
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn",
                   json={"data": remote_quote(accepted, status_id="4", invoice_id="Opnel5aKBz")})
        vendor.get(f"{API}/invoices/Opnel5aKBz", json={"data": dict(fixture("invoice.json"), status_id="1")})
        run = execute(ConvertQuote, accepted, staff)
        assert bulk_calls(vendor, "quotes") == []
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    invoice = Invoice.objects.get(quote=accepted)
    assert run.message == "Facture F-0042 créée depuis le devis."
    assert run.external_ids["invoiceninja_invoice_id"] == "Opnel5aKBz" and run.external_ids["invoice_pk"] == invoice.pk


def test_a_conversion_whose_answer_omits_the_quote_rereads_it(accepted, staff, redis_connection, no_pacing):
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(accepted, status_id="3")})
        vendor.post(f"{API}/quotes/bulk", json={"data": [remote_quote(accepted, id="other", invoice_id="nope")]})
        vendor.get(f"{API}/quotes/Wpmbk5ezJn",
                   json={"data": remote_quote(accepted, status_id="4", invoice_id="Opnel5aKBz")})
        vendor.get(f"{API}/invoices/Opnel5aKBz", json={"data": dict(fixture("invoice.json"), status_id="1")})
        run = execute(ConvertQuote, accepted, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert InvoiceLink.objects.get(invoice__quote=accepted).external_id == "Opnel5aKBz"


def test_a_conversion_invoice_ninja_skipped_creates_nothing_and_says_the_status(accepted, staff, redis_connection,
                                                                                no_pacing):
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(accepted, status_id="3")})
        vendor.post(f"{API}/quotes/bulk", json={"data": []})
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(accepted, status_id="3")})
        run = execute(ConvertQuote, accepted, staff)
    assert (run.status, run.message) == (ActionRun.Status.FAILED,
                                         "Invoice Ninja n'a pas converti le devis (statut 3).")
    assert not Invoice.objects.exists()


def test_the_conversion_confirmation_shows_the_client_and_the_total(accepted):
    assert ConvertQuote().confirmation_details(accepted) == [("Client", "Atelier Lumière SARL"),
                                                             ("Total TTC", "5\u202f520,96\xa0€")]


def test_send_and_invoice_confirmations_show_the_total_and_who_receives_it(connection, quote, company):
    from apps.invoiceninja.actions import SendInvoice

    assert SendQuote().confirmation_details(quote) == [("Client", "Atelier Lumière SARL"),
                                                       ("Total TTC", "5\u202f520,96\xa0€"),
                                                       ("Destinataires", "claire@atelier.example")]
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.DRAFT)
    invoice.lines.create(position=0, description="Acompte", quantity=1, unit_price="100.00", tax_rate=0)
    invoice.recalculate_totals()
    assert SendInvoice().confirmation_details(invoice) == [("Client", "Atelier Lumière SARL"),
                                                           ("Total TTC", "100,00\xa0€"),
                                                           ("Destinataires", "claire@atelier.example")]


def test_send_invoice_pushes_the_invoice_emails_it_with_the_invoice_template_and_marks_it_sent(
        connection, company, staff, redis_connection, no_pacing):
    from apps.invoiceninja.actions import SendInvoice

    invoice = Invoice.objects.create(company=company, status=Invoice.Status.DRAFT)
    invoice.lines.create(position=0, description="Acompte", quantity=1, unit_price="100.00", tax_rate=0)
    invoice.recalculate_totals()
    remote = dict(fixture("invoice.json"), private_notes=f"[console:invoice:{invoice.pk}]", status_id="1")
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/clients", json=empty_list())
        vendor.post(f"{API}/clients", json={"data": fixture("client.json")})
        vendor.get(f"{API}/invoices", json=empty_list())
        vendor.post(f"{API}/invoices", json={"data": remote})
        vendor.post(f"{API}/emails", json={"data": dict(remote, status_id="2")},
                    match=[matchers.json_params_matcher({"entity": "invoice", "entity_id": "Opnel5aKBz",
                                                         "template": "email_template_invoice"})])
        run = execute(SendInvoice, invoice, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == "Facture F-0042 envoyée par Invoice Ninja."
    assert run.external_ids["invoiceninja_invoice_id"] == "Opnel5aKBz" and run.external_ids["emailed"] is True
    invoice.refresh_from_db()
    assert (invoice.status, invoice.number) == (Invoice.Status.SENT, "F-0042")
    assert InvoiceLink.objects.get(invoice=invoice).external_id == "Opnel5aKBz"


def test_a_quote_with_its_own_number_keeps_it_in_invoice_ninja(vendor, quote, staff, redis_connection, no_pacing):
    Quote.objects.filter(pk=quote.pk).update(number="D-2026-007")
    quote.refresh_from_db()
    vendor.post(f"{API}/quotes", json={"data": remote_quote(quote, number="D-2026-007")})
    vendor.post(f"{API}/emails", json={"data": remote_quote(quote, status_id="2", number="D-2026-007")})
    run = execute(SendQuote, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    created = json.loads(next(c for c in vendor.calls if c.request.method == "POST"
                              and c.request.url.endswith("/quotes")).request.body)
    assert created["number"] == "D-2026-007" and created["client_id"] == "VolejRejNm"
    assert run.message == "Devis D-2026-007 envoyé par Invoice Ninja."


def test_a_client_edited_in_the_console_is_updated_in_invoice_ninja_keeping_its_remote_contacts(
        connection, quote, staff, company, redis_connection, no_pacing):
    link = ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm")
    link.mark_in_step()
    company.name = "Atelier Lumière SAS"
    company.save()
    remote_client = dict(fixture("client.json"), contacts=[{"id": "c1", "email": "ancien@atelier.example"}])
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/clients/VolejRejNm", json={"data": remote_client})
        vendor.put(f"{API}/clients/VolejRejNm", json={"data": dict(remote_client, name="Atelier Lumière SAS")})
        vendor.get(f"{API}/quotes", json=empty_list())
        vendor.post(f"{API}/quotes", json={"data": remote_quote(quote)})
        vendor.post(f"{API}/emails", json={"data": remote_quote(quote, status_id="2")})
        run = execute(SendQuote, quote, staff)
        sent = json.loads(next(c for c in vendor.calls if c.request.method == "PUT").request.body)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert sent["name"] == "Atelier Lumière SAS"
    assert [c["email"] for c in sent["contacts"]] == ["ancien@atelier.example", "claire@atelier.example"]
    assert not ClientLink.objects.get(pk=link.pk).has_local_changes(company)


def test_a_client_unchanged_since_its_sync_is_not_written_again(connection, quote, staff, company, redis_connection,
                                                                no_pacing):
    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm").mark_in_step()
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes", json=empty_list())
        vendor.post(f"{API}/quotes", json={"data": remote_quote(quote)})
        vendor.post(f"{API}/emails", json={"data": remote_quote(quote, status_id="2")})
        run = execute(SendQuote, quote, staff)
        assert not [c for c in vendor.calls if "/clients" in c.request.url]
    assert run.status == ActionRun.Status.SUCCEEDED, run.message


def test_a_quote_sent_again_after_an_edit_or_in_conflict_is_updated_with_the_console_s_version(
        connection, quote, staff, company, redis_connection, no_pacing):
    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm").mark_in_step()
    link = QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn")
    link.mark_in_step()
    link.mark_conflict("les deux côtés ont changé")
    with responses.RequestsMock() as vendor:
        vendor.put(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(quote, status_id="2")})
        vendor.post(f"{API}/emails", json={"data": remote_quote(quote, status_id="2")})
        run = execute(SendQuote, quote, staff)
        updated = json.loads(next(c for c in vendor.calls if c.request.method == "PUT").request.body)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert updated["line_items"][1]["cost"] == 350.10
    assert not QuoteLink.objects.get(pk=link.pk).in_conflict


def test_a_draft_issued_for_signature_is_numbered_and_marked_sent_without_any_email(connection, quote, company,
                                                                                      staff, redis_connection,
                                                                                      no_pacing):
    from apps.invoiceninja.actions import issue_document

    run, _created = actions.start(actions.get(SendQuote.key), quote, staff, secrets.token_hex(16))
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/clients", json=empty_list())
        vendor.post(f"{API}/clients", json={"data": fixture("client.json")})
        vendor.get(f"{API}/quotes", json=empty_list())
        vendor.post(f"{API}/quotes", json={"data": remote_quote(quote, status_id="1", number="0042")})
        vendor.post(f"{API}/quotes/bulk", json={"data": [remote_quote(quote, status_id="2", number="0042")]})
        issue_document(InvoiceNinjaClient(connection), connection, quote, run, kind="quote")
        assert bulk_calls(vendor, "quotes") == [{"action": "mark_sent", "ids": ["Wpmbk5ezJn"]}]
        assert not [c for c in vendor.calls if c.request.url.endswith("/emails")]
    quote.refresh_from_db()
    assert (quote.status, quote.number) == (Quote.Status.SENT, "0042")
    assert not QuoteLink.objects.get(quote=quote).has_local_changes(quote)
    from apps.invoiceninja.models import InvoiceMirror, QuoteMirror

    assert QuoteMirror.objects.get(external_id="Wpmbk5ezJn").payload["status_id"] == "2"
    assert not InvoiceMirror.objects.exists()  # kept as the quote it is


def test_a_quote_already_sent_in_invoice_ninja_is_not_marked_sent_again_and_a_silent_bulk_is_reread(
        connection, quote, company, staff, redis_connection, no_pacing):
    from apps.invoiceninja.actions import issue_document

    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm").mark_in_step()
    run, _created = actions.start(actions.get(SendQuote.key), quote, staff, secrets.token_hex(16))
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes", json=empty_list())
        vendor.post(f"{API}/quotes", json={"data": remote_quote(quote, status_id="1")})
        vendor.post(f"{API}/quotes/bulk", json={"data": []})
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(quote, status_id="2", number="0099")})
        issue_document(InvoiceNinjaClient(connection), connection, quote, run, kind="quote")
    quote.refresh_from_db()
    assert (quote.status, quote.number) == (Quote.Status.SENT, "0099")
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(quote, status_id="2", number="0099")})
        issue_document(InvoiceNinjaClient(connection), connection, quote, run, kind="quote")
        assert bulk_calls(vendor, "quotes") == []


def test_taking_invoice_ninja_s_version_of_a_quote_ends_its_conflict(connection, quote, company, staff,
                                                                     redis_connection, no_pacing):
    from apps.invoiceninja.actions import TakeRemoteQuote

    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm")
    link = QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn")
    action = actions.get(TakeRemoteQuote.key)
    assert action.unavailable_reason(quote, staff) is not None  # no conflict
    link.mark_conflict("les deux côtés ont changé")
    assert action.unavailable_reason(quote, staff) is None
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote(quote, public_notes="version distante")})
        run = execute(TakeRemoteQuote, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.external_ids["invoiceninja_quote_id"] == "Wpmbk5ezJn"
    quote.refresh_from_db()
    link.refresh_from_db()
    assert quote.notes == "version distante" and not link.in_conflict


def test_a_retried_send_finds_the_client_it_created_by_name_and_marker_and_creates_no_second_one(
        connection, quote, staff, company, redis_connection, no_pacing):
    ours = dict(fixture("client.json"), private_notes=f"notes [console:company:{company.pk}]")
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/clients", json={**empty_list(), "data": [ours]}, match=[matchers.query_param_matcher(
            {"per_page": "100", "page": "1", "sort": "id|desc", "name": "Atelier Lumière SARL"})])
        vendor.get(f"{API}/quotes", json=empty_list(), match=[matchers.query_param_matcher(
            {"per_page": "100", "page": "1", "sort": "id|desc", "client_id": "VolejRejNm"})])
        vendor.post(f"{API}/quotes", json={"data": remote_quote(quote)})
        vendor.post(f"{API}/emails", json={"data": remote_quote(quote, status_id="2")})
        run = execute(SendQuote, quote, staff)
        assert not [c for c in vendor.calls if c.request.method == "POST" and c.request.url.endswith("/clients")]
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert ClientLink.objects.get(company=company).external_id == "VolejRejNm"
    assert run.external_ids["invoiceninja_client_id"] == "VolejRejNm"
