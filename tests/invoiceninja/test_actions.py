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
