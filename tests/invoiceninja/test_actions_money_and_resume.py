"""Invoice Ninja actions where money or duplicates are at stake: « Marquer payée » records what Invoice Ninja
says was paid, a retried push finds the object it created (up to 5 pages back, never a deleted one), a record
linked to another object is refused, a conflict is resolved only on request, and every failure reads in French."""

import secrets
from decimal import Decimal

import pytest
import responses
from django.utils import timezone

from apps.core import actions
from apps.core.actions import ActionFailed
from apps.core.http import AuthenticationError, NetworkError, ServerError
from apps.core.models import ActionRun
from apps.hub.models import Invoice, Quote, lines_from_vendor
from apps.invoiceninja import actions as in_actions
from apps.invoiceninja.actions import (ConvertQuote, MarkInvoicePaid, SendInvoice, SendQuote, TakeRemoteInvoice, failure,
                                       find_marked, link_remote)
from apps.invoiceninja.client import InvoiceNinjaClient, ValidationFailed
from apps.invoiceninja.models import InvoiceLink, QuoteLink
from tests.invoiceninja.conftest import API, fixture

pytestmark = pytest.mark.django_db


def execute(action_class, obj, user) -> ActionRun:
    run, _created = actions.start(actions.get(action_class.key), obj, user, secrets.token_hex(16))
    actions.execute(run.pk)
    run.refresh_from_db()
    return run


def page(items, current=1, total_pages=1):
    return {"data": items, "meta": {"pagination": {"total": len(items), "count": len(items), "per_page": 100,
                                                   "current_page": current, "total_pages": total_pages,
                                                   "links": {}}}}


@pytest.fixture
def sent_invoice(connection, company):
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT, number="F-0042")
    InvoiceLink.objects.create(connection=connection, invoice=invoice, external_id="Opnel5aKBz")
    return invoice


# « Marquer payée » ---------------------------------------------------------------------------------------------
@responses.activate
def test_mark_paid_records_the_amount_invoice_ninja_says_was_paid(connection, staff, sent_invoice, redis_connection,
                                                                 no_pacing):
    paid = dict(fixture("invoice.json"), status_id="4", paid_to_date=768.0, balance=0)
    responses.post(f"{API}/invoices/bulk", json={"data": [paid]})
    run = execute(MarkInvoicePaid, sent_invoice, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == "Facture F-0042 marquée payée dans Invoice Ninja."
    assert run.external_ids["invoiceninja_invoice_id"] == "Opnel5aKBz"
    sent_invoice.refresh_from_db()
    assert (sent_invoice.status, sent_invoice.amount_paid) == (Invoice.Status.PAID, Decimal("768.00"))
    link = InvoiceLink.objects.get(invoice=sent_invoice)
    assert not link.has_local_changes(sent_invoice)  # our own write is not a local edit


@responses.activate
def test_mark_paid_rereads_the_invoice_when_the_bulk_answer_does_not_list_it(connection, staff, sent_invoice,
                                                                             redis_connection, no_pacing):
    responses.post(f"{API}/invoices/bulk", json={"data": []})
    responses.get(f"{API}/invoices/Opnel5aKBz",
                  json={"data": dict(fixture("invoice.json"), status_id="4", paid_to_date=768.0)})
    run = execute(MarkInvoicePaid, sent_invoice, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    sent_invoice.refresh_from_db()
    assert sent_invoice.status == Invoice.Status.PAID


def test_mark_paid_is_offered_only_for_a_linked_unpaid_invoice(connection, staff, company, sent_invoice):
    action = actions.get(MarkInvoicePaid.key)
    assert action.unavailable_reason(sent_invoice, staff) is None
    for status in (Invoice.Status.PAID, Invoice.Status.CANCELLED):
        sent_invoice.status = status
        assert action.unavailable_reason(sent_invoice, staff) is not None
    unlinked = Invoice.objects.create(company=company, status=Invoice.Status.SENT)
    assert action.unavailable_reason(unlinked, staff) is not None
    for status in (Invoice.Status.DRAFT, Invoice.Status.PARTIAL):
        sent_invoice.status = status
        assert action.unavailable_reason(sent_invoice, staff) is None


def test_mark_paid_without_a_link_refuses_in_french(connection, staff, company):
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT)
    with pytest.raises(ActionFailed) as refusal:
        MarkInvoicePaid().perform(invoice, ActionRun(), connection, InvoiceNinjaClient(connection))
    assert str(refusal.value) == "Cette facture n'existe pas dans Invoice Ninja."


def test_mark_paid_confirmation_shows_the_balance_due(connection, sent_invoice):
    sent_invoice.lines.create(position=0, description="x", quantity=1, unit_price=Decimal("100.00"), tax_rate=0)
    sent_invoice.recalculate_totals()
    sent_invoice.amount_paid = Decimal("40.00")
    details = dict(MarkInvoicePaid().confirmation_details(sent_invoice))
    assert details["Solde dû"] == "60,00\xa0€"


def test_send_invoice_is_offered_for_unpaid_invoices_with_lines(connection, staff, company):
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.PARTIAL)
    action = actions.get(SendInvoice.key)
    assert action.unavailable_reason(invoice, staff) is not None  # no lines yet
    with lines_from_vendor():  # the lines as Invoice Ninja sent them, whatever the document's state
        invoice.lines.create(position=0, description="x", quantity=1, unit_price=Decimal("1.00"))
    assert action.unavailable_reason(invoice, staff) is None
    invoice.status = Invoice.Status.PAID
    assert action.unavailable_reason(invoice, staff) is not None


# Finding what a dead attempt created ---------------------------------------------------------------------------
@responses.activate
@pytest.mark.parametrize("found_on, found", [(5, True), (6, False)])
def test_a_retry_looks_for_its_marked_object_on_five_pages_at_most(connection, found_on, found, no_pacing):
    mark = "[console:invoice:7]"
    for number in range(1, 7):
        items = [{"id": f"other-{number}", "private_notes": ""}]
        if number == found_on:
            items.append({"id": "ours", "private_notes": f"notes {mark}"})
        responses.get(f"{API}/invoices", json=page(items, current=number, total_pages=6),
                      match=[responses.matchers.query_param_matcher(
                          {"page": str(number), "per_page": "100", "sort": "id|desc"}, strict_match=False)])
    result = find_marked(InvoiceNinjaClient(connection), "invoices", mark)
    assert (result["id"] if result else None) == ("ours" if found else None)
    assert len(responses.calls) == min(found_on, 5)


@responses.activate
def test_a_deleted_marked_object_is_not_taken_for_ours(connection, no_pacing):
    mark = "[console:invoice:7]"
    responses.get(f"{API}/invoices", json=page([{"id": "deleted", "private_notes": mark, "is_deleted": True},
                                                {"id": "alive", "private_notes": mark}]))
    assert find_marked(InvoiceNinjaClient(connection), "invoices", mark)["id"] == "alive"


@responses.activate
def test_the_last_page_ends_the_search(connection, no_pacing):
    responses.get(f"{API}/invoices", json=page([{"id": "a", "private_notes": None}], current=1, total_pages=1))
    assert find_marked(InvoiceNinjaClient(connection), "invoices", "[console:invoice:7]") is None
    assert len(responses.calls) == 1


def test_a_record_already_linked_to_another_remote_object_is_refused(connection, sent_invoice):
    with pytest.raises(ActionFailed) as refusal:
        link_remote(InvoiceLink, connection, "invoice", sent_invoice, {"id": "someone-else"})
    assert str(refusal.value) == "Cet enregistrement est déjà lié à un autre objet Invoice Ninja (Opnel5aKBz)."
    assert link_remote(InvoiceLink, connection, "invoice", sent_invoice, {"id": "Opnel5aKBz"}).external_id == \
        "Opnel5aKBz"


# Conflicts -----------------------------------------------------------------------------------------------------
def test_taking_invoice_ninja_s_version_is_offered_only_in_conflict(connection, staff, sent_invoice):
    action = actions.get(TakeRemoteInvoice.key)
    assert action.unavailable_reason(sent_invoice, staff) is not None
    link = InvoiceLink.objects.get(invoice=sent_invoice)
    link.mark_conflict("les deux côtés ont changé")
    assert action.unavailable_reason(sent_invoice, staff) is None


@responses.activate
def test_taking_invoice_ninja_s_version_overwrites_the_console_s_and_ends_the_conflict(connection, staff, company,
                                                                                      sent_invoice, redis_connection,
                                                                                      no_pacing):
    from apps.invoiceninja.models import ClientLink

    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm")
    link = InvoiceLink.objects.get(invoice=sent_invoice)
    link.mark_conflict("les deux côtés ont changé")
    sent_invoice.notes = "modifié dans la console"
    sent_invoice.save()
    responses.get(f"{API}/invoices/Opnel5aKBz", json={"data": dict(fixture("invoice.json"), public_notes="distant")})
    run = execute(TakeRemoteInvoice, sent_invoice, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == "Version Invoice Ninja reprise ; conflit résolu."
    sent_invoice.refresh_from_db()
    link.refresh_from_db()
    assert sent_invoice.notes == "distant" and not link.in_conflict


# Failures read in French ---------------------------------------------------------------------------------------
def test_each_failure_reads_in_french_and_says_what_to_do():
    cases = [
        (ValidationFailed("422", status=422, field_errors={"client_id": ["requis"]}),
         "Invoice Ninja a refusé les données : client_id : requis"),
        (AuthenticationError("Invalid token", status=403), "Invoice Ninja refuse le jeton API de la connexion : "
                                                           "vérifiez-la dans l'administration."),
        (AuthenticationError("Forbidden", status=403), "Invoice Ninja refuse l'opération : Forbidden"),
        (AuthenticationError("Invalid token", status=401), "Invoice Ninja refuse l'opération : Invalid token"),
        (NetworkError("timeout", maybe_sent=True), "Invoice Ninja n'a pas répondu ; relancez l'action : elle "
                                                   "reprendra sans rien créer en double."),
        (NetworkError("refused", maybe_sent=False), "Invoice Ninja : refused"),
        (ServerError("HTTP 500", status=500), "Invoice Ninja : HTTP 500"),
    ]
    for error, message in cases:
        assert str(failure(error)) == message


def test_without_an_active_connection_the_action_says_so(db, company):
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT)
    with pytest.raises(ActionFailed) as refusal:
        MarkInvoicePaid().run(invoice, ActionRun())
    assert str(refusal.value) == "Aucune connexion Invoice Ninja active."


def test_recipients_are_the_contacts_with_an_email_else_the_company_s(company, quote):
    assert in_actions.recipients(quote) == "claire@atelier.example"
    company.contacts.update(email="")
    assert in_actions.recipients(quote) == "contact@atelier.example"
    company.email = ""
    company.save()
    assert in_actions.recipients(quote) == "(aucun contact avec e-mail)"
    assert QuoteLink.objects.count() == 0 and Quote.objects.count() == 1


# To the cent, in the document's currency, for the right record ---------------------------------------------------
def test_confirmations_show_each_amount_in_the_document_s_own_currency(connection, company, quote):
    from apps.hub.models import Contact

    Contact.objects.create(company=company, first_name="Marc", email="marc@atelier.example")
    Quote.objects.filter(pk=quote.pk).update(currency="USD")
    quote.refresh_from_db()
    assert in_actions.SendQuote().confirmation_details(quote) == [
        ("Client", "Atelier Lumière SARL"), ("Total TTC", "5\u202f520,96\xa0$US"),
        ("Destinataires", "claire@atelier.example, marc@atelier.example")]
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT, currency="CHF")
    invoice.lines.create(position=0, description="x", quantity=1, unit_price=Decimal("100.00"), tax_rate=0)
    invoice.recalculate_totals()
    invoice.amount_paid = Decimal("40.00")
    assert SendInvoice().confirmation_details(invoice)[1] == ("Total TTC", "100,00\xa0CHF")
    assert MarkInvoicePaid().confirmation_details(invoice) == [("Client", "Atelier Lumière SARL"),
                                                               ("Solde dû", "60,00\xa0CHF")]


@responses.activate
def test_mark_paid_marks_this_invoice_s_own_remote_invoice_and_no_other(connection, staff, company, sent_invoice,
                                                                       redis_connection, no_pacing):
    other = Invoice.objects.create(company=company, status=Invoice.Status.SENT, number="F-0043")
    InvoiceLink.objects.create(connection=connection, invoice=other, external_id="Other0043")
    paid = dict(fixture("invoice.json"), id="Other0043", number="F-0043", status_id="4", paid_to_date=768.0)
    responses.post(f"{API}/invoices/bulk", json={"data": [paid]}, match=[responses.matchers.json_params_matcher(
        {"action": "mark_paid", "ids": ["Other0043"]})])
    run = execute(MarkInvoicePaid, other, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    sent_invoice.refresh_from_db()
    assert sent_invoice.status == Invoice.Status.SENT


def test_mark_paid_ignores_a_link_to_another_invoice_ninja(connection, staff, company):
    from apps.core.models import Connection

    old = Connection.objects.create(provider="invoiceninja", name="Ancien", slug="in-old", base_url="https://old.test",
                                    secrets={"api_token": "t"}, is_active=False)
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT)
    InvoiceLink.objects.create(connection=old, invoice=invoice, external_id="Opnel5aKBz")
    with pytest.raises(ActionFailed) as refusal:
        MarkInvoicePaid().perform(invoice, ActionRun(), connection, InvoiceNinjaClient(connection))
    assert str(refusal.value) == "Cette facture n'existe pas dans Invoice Ninja."


@responses.activate
def test_taking_invoice_ninja_s_version_concerns_only_the_invoice_in_conflict(connection, staff, company,
                                                                             sent_invoice, redis_connection,
                                                                             no_pacing):
    from apps.invoiceninja.models import ClientLink

    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm")
    other = Invoice.objects.create(company=company, status=Invoice.Status.SENT, number="F-0043")
    InvoiceLink.objects.create(connection=connection, invoice=other, external_id="Other0043").mark_conflict("x")
    action = actions.get(TakeRemoteInvoice.key)
    assert action.unavailable_reason(sent_invoice, staff) is not None  # the other one is in conflict, not this one
    InvoiceLink.objects.get(invoice=sent_invoice).mark_conflict("les deux côtés ont changé")
    responses.get(f"{API}/invoices/Opnel5aKBz", json={"data": dict(fixture("invoice.json"), public_notes="distant")})
    run = execute(TakeRemoteInvoice, sent_invoice, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.external_ids["invoiceninja_invoice_id"] == "Opnel5aKBz"
    assert InvoiceLink.objects.get(invoice=other).in_conflict


@responses.activate
def test_mark_paid_keeps_a_colleague_s_edit_and_names_the_number_invoice_ninja_gave(connection, staff, company,
                                                                                   redis_connection, no_pacing):
    import json

    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT)
    InvoiceLink.objects.create(connection=connection, invoice=invoice, external_id="Opnel5aKBz")

    def colleague_edits_then_vendor_answers(request):
        Invoice.objects.filter(pk=invoice.pk).update(notes="Réglée par virement, voir relevé")
        paid = dict(fixture("invoice.json"), status_id="4", paid_to_date=768.0, balance=0)
        return 200, {}, json.dumps({"data": [paid]})

    responses.add_callback(responses.POST, f"{API}/invoices/bulk", callback=colleague_edits_then_vendor_answers)
    run = execute(MarkInvoicePaid, invoice, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == "Facture F-0042 marquée payée dans Invoice Ninja."
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (Invoice.Status.PAID, Decimal("768.00"))
    assert invoice.notes == "Réglée par virement, voir relevé"


@responses.activate
def test_approving_a_quote_approves_its_own_remote_quote(connection, staff, company, redis_connection, no_pacing):
    from apps.invoiceninja.actions import ApproveQuote

    quotes = []
    for number, external_id in (("0041", "Quote0041"), ("0042", "Wpmbk5ezJn")):
        quote = Quote.objects.create(company=company, number=number, status=Quote.Status.ACCEPTED)
        QuoteLink.objects.create(connection=connection, quote=quote, external_id=external_id)
        quotes.append(quote)
    responses.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": dict(fixture("quote.json"), status_id="3")})
    run = execute(ApproveQuote, quotes[1], staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.external_ids["invoiceninja_quote_id"] == "Wpmbk5ezJn"


@responses.activate
def test_approve_and_send_name_the_number_invoice_ninja_holds(connection, staff, company, redis_connection,
                                                             no_pacing):
    from apps.invoiceninja.actions import ApproveQuote
    from apps.invoiceninja.models import ClientLink

    quote = Quote.objects.create(company=company, status=Quote.Status.ACCEPTED)
    QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn")
    responses.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": dict(fixture("quote.json"), status_id="3")})
    assert execute(ApproveQuote, quote, staff).message == "Devis 0042 approuvé dans Invoice Ninja."

    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm").mark_in_step()
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT, number="F-HUB")
    invoice.lines.create(position=0, description="x", quantity=1, unit_price=Decimal("10.00"))
    InvoiceLink.objects.create(connection=connection, invoice=invoice, external_id="Opnel5aKBz").mark_in_step()
    responses.get(f"{API}/invoices/Opnel5aKBz", json={"data": fixture("invoice.json")})
    responses.post(f"{API}/emails", json={"data": fixture("invoice.json")})
    run = execute(SendInvoice, invoice, staff)
    assert run.message == "Facture F-0042 envoyée par Invoice Ninja.", run.message


# What each action leaves behind: the right link, the mirror, the run's ids, the timeline --------------------------
def remote_quote_of(quote, **changes):
    return {**fixture("quote.json"), "private_notes": f"[console:quote:{quote.pk}]", **changes}


@pytest.fixture
def old_connection(db):
    from apps.core.models import Connection

    return Connection.objects.create(provider="invoiceninja", name="Ancien", slug="in-old",
                                     base_url="https://old.test", secrets={"api_token": "t"}, is_active=False)


def test_approve_and_convert_ignore_a_link_to_another_invoice_ninja_or_to_another_quote(connection, old_connection,
                                                                                       company, quote, staff):
    from apps.invoiceninja.actions import ApproveQuote

    other = Quote.objects.create(company=company, number="0041", status=Quote.Status.ACCEPTED)
    QuoteLink.objects.create(connection=connection, quote=other, external_id="Quote0041")
    Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.ACCEPTED)
    quote.refresh_from_db()
    QuoteLink.objects.create(connection=old_connection, quote=quote, external_id="Wpmbk5ezJn")
    for action_class in (ApproveQuote, ConvertQuote):
        assert actions.get(action_class.key).unavailable_reason(quote, staff) is not None
        assert actions.get(action_class.key).unavailable_reason(other, staff) is None
        with responses.RequestsMock():  # no call at all reaches Invoice Ninja
            with pytest.raises(ActionFailed) as refusal:
                action_class().perform(quote, ActionRun(), connection, InvoiceNinjaClient(connection))
        assert str(refusal.value) == "Ce devis n'existe pas dans Invoice Ninja : envoyez-le d'abord."


def test_the_conversion_confirmation_shows_the_total_in_the_quote_s_currency(connection, quote):
    Quote.objects.filter(pk=quote.pk).update(currency="USD")
    quote.refresh_from_db()
    assert ConvertQuote().confirmation_details(quote) == [("Client", "Atelier Lumière SARL"),
                                                          ("Total TTC", "5\u202f520,96\xa0$US")]


def warnings_on(record) -> list[str]:
    from apps.core.models import TimelineEntry

    return list(TimelineEntry.objects.filter(object_id=str(record.pk), level=TimelineEntry.Level.WARNING)
                .values_list("message", flat=True))


@responses.activate
def test_approving_records_invoice_ninja_s_answer_without_rewriting_the_quote_or_warning_of_a_conflict(
        connection, staff, company, quote, redis_connection, no_pacing):
    from apps.invoiceninja.actions import ApproveQuote
    from apps.invoiceninja.models import QuoteMirror

    Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.ACCEPTED, number="0042",
                                             notes="Remise négociée dans la console")
    quote.refresh_from_db()
    QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn")  # never synced since
    responses.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote_of(quote, status_id="3",
                                                                               public_notes="texte d'Invoice Ninja")})
    run = execute(ApproveQuote, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert QuoteMirror.objects.get(external_id="Wpmbk5ezJn").payload["status_id"] == "3"
    quote.refresh_from_db()
    assert (quote.notes, quote.total) == ("Remise négociée dans la console", Decimal("5520.96"))
    assert warnings_on(quote) == []
    link = QuoteLink.objects.get(quote=quote)
    assert not link.in_conflict


@responses.activate
def test_marking_paid_warns_of_no_conflict_for_an_invoice_edited_since_its_last_sync(
        connection, staff, sent_invoice, redis_connection, no_pacing):
    from apps.invoiceninja.models import InvoiceMirror

    sent_invoice.notes = "Relancée par téléphone"
    sent_invoice.save()  # edited in the console, its link never marked in step since
    paid = dict(fixture("invoice.json"), status_id="4", paid_to_date=768.0, balance=0, public_notes="distant")
    responses.post(f"{API}/invoices/bulk", json={"data": [paid]})
    run = execute(MarkInvoicePaid, sent_invoice, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert warnings_on(sent_invoice) == []
    sent_invoice.refresh_from_db()
    assert (sent_invoice.status, sent_invoice.notes) == (Invoice.Status.PAID, "Relancée par téléphone")
    assert InvoiceMirror.objects.get(external_id="Opnel5aKBz").payload["status_id"] == "4"
    assert not InvoiceLink.objects.get(invoice=sent_invoice).in_conflict


def test_taking_invoice_ninja_s_version_is_offered_for_this_invoice_s_own_conflict_only(connection, staff, company,
                                                                                      old_connection):
    earlier = Invoice.objects.create(company=company, status=Invoice.Status.SENT, number="F-0041")
    InvoiceLink.objects.create(connection=connection, invoice=earlier, external_id="Other0041").mark_conflict("x")
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT, number="F-0042")
    link = InvoiceLink.objects.create(connection=connection, invoice=invoice, external_id="Opnel5aKBz")
    action = actions.get(TakeRemoteInvoice.key)
    assert action.unavailable_reason(invoice, staff) is not None  # only the earlier invoice is in conflict
    InvoiceLink.objects.filter(pk=link.pk).update(conflict_at=timezone.now())
    InvoiceLink.objects.filter(invoice=earlier).update(conflict_at=None)
    assert action.unavailable_reason(invoice, staff) is None
    assert action.unavailable_reason(earlier, staff) is not None


@responses.activate
def test_taking_invoice_ninja_s_version_reads_the_invoice_linked_on_the_active_connection(
        connection, staff, company, sent_invoice, old_connection, redis_connection, no_pacing):
    from apps.invoiceninja.models import ClientLink

    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm")
    InvoiceLink.objects.create(connection=old_connection, invoice=sent_invoice, external_id="OldOne")
    InvoiceLink.objects.get(connection=connection, invoice=sent_invoice).mark_conflict("les deux côtés ont changé")
    responses.get(f"{API}/invoices/Opnel5aKBz", json={"data": dict(fixture("invoice.json"), public_notes="distant")})
    run = execute(TakeRemoteInvoice, sent_invoice, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    sent_invoice.refresh_from_db()
    assert sent_invoice.notes == "distant"


# Convert: the new invoice's id kept as soon as Invoice Ninja gives it --------------------------------------------
@pytest.fixture
def accepted_quote(connection, quote):
    Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.ACCEPTED, number="0042")
    quote.refresh_from_db()
    QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn")
    return quote


def test_a_conversion_whose_invoice_cannot_be_read_keeps_its_id_and_a_relaunch_links_it_without_converting_again(
        accepted_quote, staff, redis_connection, no_pacing):
    converted = remote_quote_of(accepted_quote, status_id="4", invoice_id="Opnel5aKBz")
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote_of(accepted_quote, status_id="3")})
        vendor.post(f"{API}/quotes/bulk", json={"data": [converted]})
        vendor.get(f"{API}/invoices/Opnel5aKBz", status=404, json={"message": "Not found"})
        run = execute(ConvertQuote, accepted_quote, staff)
    assert run.status == ActionRun.Status.FAILED
    assert run.external_ids["invoiceninja_invoice_id"] == "Opnel5aKBz"
    assert not Invoice.objects.exists()

    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": converted})
        vendor.get(f"{API}/invoices/Opnel5aKBz", json={"data": dict(fixture("invoice.json"), status_id="1")})
        actions.relaunch(run, staff)
        actions.execute(run.pk)
        assert not [c for c in vendor.calls if c.request.method == "POST"]
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    invoice = Invoice.objects.get(quote=accepted_quote)
    assert run.external_ids == {"invoiceninja_invoice_id": "Opnel5aKBz", "invoice_pk": invoice.pk}


def test_a_converted_invoice_invoice_ninja_has_not_numbered_yet_is_named_by_a_dash(accepted_quote, staff,
                                                                                   redis_connection, no_pacing):
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn",
                   json={"data": remote_quote_of(accepted_quote, status_id="4", invoice_id="Opnel5aKBz")})
        vendor.get(f"{API}/invoices/Opnel5aKBz", json={"data": dict(fixture("invoice.json"), status_id="1", number="")})
        run = execute(ConvertQuote, accepted_quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == "Facture — créée depuis le devis."
    assert run.external_ids == {"invoiceninja_invoice_id": "Opnel5aKBz",
                                "invoice_pk": Invoice.objects.get(quote=accepted_quote).pk}


# Send: once by e-mail, the number Invoice Ninja holds, the mirror of the right kind --------------------------------
@pytest.fixture
def linked_quote(connection, company, quote):
    from apps.invoiceninja.models import ClientLink

    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm").mark_in_step()
    Quote.objects.filter(pk=quote.pk).update(number="D-HUB")
    quote.refresh_from_db()
    QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn").mark_in_step()
    return quote


def test_sending_a_quote_names_the_number_invoice_ninja_holds_and_keeps_the_console_s_own(
        linked_quote, staff, redis_connection, no_pacing):
    from apps.invoiceninja.models import InvoiceMirror, QuoteMirror

    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote_of(linked_quote, status_id="2")})
        vendor.post(f"{API}/emails", json={"data": remote_quote_of(linked_quote, status_id="2")})
        run = execute(SendQuote, linked_quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == "Devis 0042 envoyé par Invoice Ninja."
    assert run.external_ids == {"invoiceninja_quote_id": "Wpmbk5ezJn", "emailed": True}
    linked_quote.refresh_from_db()
    assert linked_quote.number == "D-HUB"
    link = QuoteLink.objects.get(quote=linked_quote)
    assert link.number == "0042" and link.emailed_at is not None
    assert QuoteMirror.objects.get(external_id="Wpmbk5ezJn").payload["status_id"] == "2"
    assert not InvoiceMirror.objects.exists()


def test_a_quote_invoice_ninja_answers_without_a_number_is_named_by_the_console_s(linked_quote, staff,
                                                                                  redis_connection, no_pacing):
    unnumbered = {k: v for k, v in remote_quote_of(linked_quote, status_id="2").items() if k != "number"}
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": unnumbered})
        vendor.post(f"{API}/emails", json={"data": unnumbered})
        run = execute(SendQuote, linked_quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.message == "Devis D-HUB envoyé par Invoice Ninja."
    assert QuoteLink.objects.get(quote=linked_quote).number == ""


def test_a_relaunched_send_that_had_already_emailed_the_quote_does_not_email_it_again(linked_quote, staff,
                                                                                      redis_connection, no_pacing):
    run, _created = actions.start(actions.get(SendQuote.key), linked_quote, staff, secrets.token_hex(16))
    actions.save_progress(run, invoiceninja_quote_id="Wpmbk5ezJn", emailed=True)
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": remote_quote_of(linked_quote, status_id="2")})
        actions.execute(run.pk)
        assert not [c for c in vendor.calls if c.request.url.endswith("/emails")]
    run.refresh_from_db()
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    linked_quote.refresh_from_db()
    assert linked_quote.status == Quote.Status.SENT


def test_sending_an_invoice_mirrors_it_as_an_invoice_and_remembers_when_it_was_emailed(
        connection, company, staff, redis_connection, no_pacing):
    from apps.invoiceninja.models import ClientLink, InvoiceMirror, QuoteMirror

    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm").mark_in_step()
    invoice = Invoice.objects.create(company=company, status=Invoice.Status.SENT, number="F-0042")
    invoice.lines.create(position=0, description="x", quantity=1, unit_price=Decimal("10.00"))
    InvoiceLink.objects.create(connection=connection, invoice=invoice, external_id="Opnel5aKBz").mark_in_step()
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/invoices/Opnel5aKBz", json={"data": fixture("invoice.json")})
        vendor.post(f"{API}/emails", json={"data": fixture("invoice.json")})
        run = execute(SendInvoice, invoice, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert run.external_ids == {"invoiceninja_invoice_id": "Opnel5aKBz", "emailed": True}
    assert InvoiceMirror.objects.get(external_id="Opnel5aKBz").payload["number"] == "F-0042"
    assert not QuoteMirror.objects.exists()
    assert InvoiceLink.objects.get(invoice=invoice).emailed_at is not None


# The client a document is sent to ------------------------------------------------------------------------------
@pytest.mark.parametrize("number", ["0007", None])
def test_a_quote_is_created_for_its_own_company_s_client_on_the_active_invoice_ninja(connection, old_connection, company,
                                                                              quote, staff, redis_connection,
                                                                              no_pacing, number):
    import json

    from apps.hub.models import Company
    from apps.invoiceninja.models import ClientLink

    other = Company.objects.create(name="Autre Client SA")
    ClientLink.objects.create(connection=connection, company=other, external_id="OtherClient").mark_in_step()
    ClientLink.objects.create(connection=old_connection, company=company, external_id="OldClient").mark_in_step()
    other_quote = Quote.objects.create(company=other, number="0041")
    QuoteLink.objects.create(connection=connection, quote=other_quote, external_id="Quote0041").mark_in_step()
    QuoteLink.objects.create(connection=old_connection, quote=quote, external_id="OldQuote").mark_in_step()
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/clients", json=page([]))
        vendor.post(f"{API}/clients", json={"data": {k: v for k, v in dict(fixture("client.json"), number=number)
                                                     .items() if v is not None}})
        vendor.get(f"{API}/quotes", json=page([]))
        vendor.post(f"{API}/quotes", json={"data": remote_quote_of(quote, status_id="1")})
        vendor.post(f"{API}/emails", json={"data": remote_quote_of(quote, status_id="2")})
        run = execute(SendQuote, quote, staff)
        created = json.loads(next(c.request.body for c in vendor.calls if c.request.method == "POST"
                                  and c.request.url == f"{API}/quotes"))
        new_client = json.loads(next(c.request.body for c in vendor.calls if c.request.method == "POST"
                                     and c.request.url == f"{API}/clients"))
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert (new_client["name"], new_client["private_notes"]) == ("Atelier Lumière SARL",
                                                                 f"[console:company:{company.pk}]")
    assert [c["email"] for c in new_client["contacts"]] == ["claire@atelier.example"]
    assert created["client_id"] == "VolejRejNm"
    link = ClientLink.objects.get(connection=connection, company=company)
    assert (link.external_id, link.number) == ("VolejRejNm", number or "")
    assert QuoteLink.objects.get(connection=connection, quote=quote).external_id == "Wpmbk5ezJn"


@pytest.mark.parametrize("number", ["0007", None])
def test_a_client_edited_in_the_console_is_written_to_invoice_ninja_without_a_conflict_warning(
        connection, company, quote, staff, redis_connection, no_pacing, number):
    from apps.invoiceninja.models import ClientLink, ClientMirror

    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm").mark_in_step()
    company.city = "Villeurbanne"
    company.save()
    remote_client = {k: v for k, v in dict(fixture("client.json"), city="Lyon", number=number).items()
                     if v is not None}  # without a number: a client Invoice Ninja has not numbered
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/clients/VolejRejNm", json={"data": remote_client})
        vendor.put(f"{API}/clients/VolejRejNm", json={"data": dict(remote_client, city="Villeurbanne")})
        vendor.get(f"{API}/quotes", json=page([]))
        vendor.post(f"{API}/quotes", json={"data": remote_quote_of(quote, status_id="1")})
        vendor.post(f"{API}/emails", json={"data": remote_quote_of(quote, status_id="2")})
        run = execute(SendQuote, quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert warnings_on(company) == []
    assert ClientMirror.objects.get(external_id="VolejRejNm").payload["city"] == "Villeurbanne"
    company.refresh_from_db()
    assert company.city == "Villeurbanne"
    link = ClientLink.objects.get(company=company)
    assert not link.in_conflict and link.number == (number or "")


@pytest.mark.parametrize("number", ["0042", None])
def test_a_quote_created_but_not_emailed_is_linked_with_the_number_invoice_ninja_gave_it(
        connection, company, quote, staff, redis_connection, no_pacing, number):
    from apps.invoiceninja.models import ClientLink

    ClientLink.objects.create(connection=connection, company=company, external_id="VolejRejNm").mark_in_step()
    created = {k: v for k, v in remote_quote_of(quote, status_id="1", number=number).items() if v is not None}
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes", json=page([]))
        vendor.post(f"{API}/quotes", json={"data": created})
        vendor.post(f"{API}/emails", status=403, json={"message": "Email confirmation required.", "errors": {}})
        run = execute(SendQuote, quote, staff)
    assert (run.status, run.message) == (ActionRun.Status.FAILED,
                                         "Invoice Ninja refuse l'opération : Email confirmation required.")
    link = QuoteLink.objects.get(connection=connection, quote=quote)
    assert (link.external_id, link.number, link.emailed_at) == ("Wpmbk5ezJn", number or "", None)


def test_converting_a_quote_edited_since_its_last_sync_warns_of_no_conflict_and_keeps_it(accepted_quote, staff,
                                                                                          redis_connection, no_pacing):
    from apps.invoiceninja.models import QuoteMirror

    Quote.objects.filter(pk=accepted_quote.pk).update(notes="Remise négociée dans la console")
    accepted_quote.refresh_from_db()
    converted = remote_quote_of(accepted_quote, status_id="4", invoice_id="Opnel5aKBz", public_notes="distant")
    with responses.RequestsMock() as vendor:
        vendor.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": converted})
        vendor.get(f"{API}/invoices/Opnel5aKBz", json={"data": dict(fixture("invoice.json"), status_id="1")})
        run = execute(ConvertQuote, accepted_quote, staff)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    assert warnings_on(accepted_quote) == []
    accepted_quote.refresh_from_db()
    assert (accepted_quote.status, accepted_quote.notes) == (Quote.Status.CONVERTED, "Remise négociée dans la console")
    assert QuoteMirror.objects.get(external_id="Wpmbk5ezJn").payload["invoice_id"] == "Opnel5aKBz"
    assert not QuoteLink.objects.get(quote=accepted_quote).in_conflict
