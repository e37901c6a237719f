"""Invoice Ninja webhooks: the shared security suite, the event key, a test per registered event, registration."""

import copy
import json

import pytest
import responses
from django.test import Client

from apps.core.models import Connection, TimelineEntry, WebhookEvent
from apps.core.webhooks.processing import process_event
from apps.hub.models import Company, Invoice, Payment, Quote
from apps.invoiceninja.models import ClientLink, InvoiceLink, QuoteLink
from apps.invoiceninja.provider import InvoiceNinjaProvider
from apps.invoiceninja.webhook_registration import register_webhooks
from apps.invoiceninja.webhooks import EVENT_IDS, REGISTERED_EVENTS, SECRET_HEADER
from tests.core.webhook_security import WebhookSecuritySuite
from tests.invoiceninja.conftest import API, WEBHOOK_SECRET, fixture
from tests.meanwhile import written_meanwhile

pytestmark = pytest.mark.django_db


class TestInvoiceNinjaWebhookSecurity(WebhookSecuritySuite):
    provider_key = "invoiceninja"
    signature_headers = (SECRET_HEADER,)
    sequence = 0

    def make_connection(self, webhook_secrets):
        return Connection.objects.create(provider="invoiceninja", name="IN", slug="in-sec",
                                         base_url="https://in.example.test", webhook_secrets=webhook_secrets)

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        if body is None:
            TestInvoiceNinjaWebhookSecurity.sequence += 1
            body = json.dumps(dict(fixture("client.json"), updated_at=1767225600 + self.sequence)).encode()
        return body, {SECRET_HEADER: secret}

    def tampered_delivery(self, secret):
        # The vendor signs nothing (NOTES §14.3): only the secret header authenticates, so "tampered" is a
        # delivery whose secret is wrong.
        body, _headers = self.signed_delivery(secret)
        return body, {SECRET_HEADER: secret + "-forged"}

    def webhook_path(self, connection, body):
        return connection.webhook_path() + "update_client/"


def deliver(connection, event: str, payload: dict) -> WebhookEvent:
    response = Client().post(f"{connection.webhook_path()}{event}/", data=json.dumps(payload),
                             content_type="application/json", headers={SECRET_HEADER: WEBHOOK_SECRET})
    assert response.status_code == 200, response.content
    stored = WebhookEvent.objects.get(pk=response.json()["id"])
    if stored.status in (WebhookEvent.Status.RECEIVED, WebhookEvent.Status.QUEUED):
        process_event(stored.pk)
        stored.refresh_from_db()
    return stored


@pytest.fixture(autouse=True)
def _redis(redis_connection):
    """The inbox enqueues processing on Redis; the tests then process in-line with process_event."""


def later(payload: dict, seconds: int = 60, **changes) -> dict:
    newer = copy.deepcopy(payload)
    newer.update(changes, updated_at=payload["updated_at"] + seconds)
    return newer


def test_event_type_comes_from_the_url_and_the_key_from_entity_and_updated_at():
    provider = InvoiceNinjaProvider()
    body = json.dumps(fixture("quote.json")).encode()
    description = provider.describe_event(body, {}, "approve_quote")
    assert description.event_type == "approve_quote"
    assert description.event_key.startswith("approve_quote:Wpmbk5ezJn:1767225700:")
    assert description.event_key == provider.describe_event(body, {}, "approve_quote").event_key
    assert provider.describe_event(body, {}, "21").event_type == "approve_quote"
    with pytest.raises(ValueError):
        provider.describe_event(b"[1, 2]", {}, "approve_quote")
    with pytest.raises(ValueError):
        provider.describe_event(b"not json", {}, "approve_quote")


def test_every_registered_event_has_a_handler():
    assert set(REGISTERED_EVENTS) == set(InvoiceNinjaProvider.webhook_handlers)


def test_a_malformed_body_is_refused_with_a_readable_400(connection):
    response = Client().post(f"{connection.webhook_path()}create_client/", data=b"{oops",
                             content_type="application/json", headers={SECRET_HEADER: WEBHOOK_SECRET})
    assert response.status_code == 400
    assert response.json()["detail"] == "JSON invalide."


def test_an_unregistered_event_is_acknowledged_and_ignored(connection):
    event = deliver(connection, "create_task", {"id": "TaskAbc123", "updated_at": 1})
    assert event.status == WebhookEvent.Status.IGNORED


def test_create_client_imports_the_company_once(connection):
    event = deliver(connection, "create_client", fixture("client.json"))
    assert event.status == WebhookEvent.Status.PROCESSED
    company = Company.objects.get(invoiceninja_links__external_id="VolejRejNm")
    assert (company.name, company.city, company.vat_number) == ("Librairie des Quais", "Paris", "FR12345678901")
    assert company.contacts.get().email == "ines@librairie-quais.example"
    again = deliver(connection, "create_client", fixture("client.json"))
    assert again.status == WebhookEvent.Status.DUPLICATE
    assert Company.objects.count() == 1


def test_update_client_changes_the_company(connection):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "update_client", later(fixture("client.json"), name="Librairie des Quais SAS"))
    assert Company.objects.get().name == "Librairie des Quais SAS"


def test_delete_client_is_shown_on_the_company_without_deleting_it(connection):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "delete_client", later(fixture("client.json"), is_deleted=True, archived_at=1767230000))
    company = Company.objects.get()
    assert ClientLink.objects.get().remote_state == "deleted"
    assert TimelineEntry.objects.filter(object_id=str(company.pk), message__contains="supprimé").exists()


@responses.activate
def test_create_quote_for_an_unknown_client_fetches_the_client_then_imports_the_quote(connection):
    responses.get(f"{API}/clients/VolejRejNm", json={"data": fixture("client.json")})
    payload = dict(fixture("quote.json"), client=fixture("client.json"))
    event = deliver(connection, "create_quote", payload)
    assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
    quote = Quote.objects.get()
    assert (quote.number, quote.status, quote.company.name) == ("0042", Quote.Status.SENT, "Librairie des Quais")
    assert quote.total == 768 and quote.lines.get().quantity == 2


def test_quote_events_update_status_and_approval_accepts_it(connection):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_quote", dict(fixture("quote.json"), status_id="1"))
    quote = Quote.objects.get()
    assert quote.status == Quote.Status.DRAFT
    deliver(connection, "sent_quote", later(fixture("quote.json"), 10))
    deliver(connection, "update_quote", later(fixture("quote.json"), 20, public_notes="Catalogue 2026"))
    quote.refresh_from_db()
    assert (quote.status, quote.notes) == (Quote.Status.SENT, "Catalogue 2026")
    event = deliver(connection, "approve_quote", later(fixture("quote.json"), 30, status_id="3"))
    quote.refresh_from_db()
    assert quote.status == Quote.Status.ACCEPTED
    assert TimelineEntry.objects.filter(object_id=str(quote.pk), webhook_event=event).exists()


def test_delete_quote_marks_the_link_deleted(connection):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_quote", fixture("quote.json"))
    deliver(connection, "delete_quote", later(fixture("quote.json"), is_deleted=True, archived_at=1767230000))
    assert QuoteLink.objects.get().remote_state == "deleted"
    assert Quote.objects.count() == 1


def test_a_quote_created_by_the_console_is_adopted_not_duplicated(connection, quote):
    # The webhook can arrive before the action saved its link: the marker in the private notes finds the quote.
    deliver(connection, "create_client", fixture("client.json"))
    payload = dict(fixture("quote.json"), private_notes=f"[console:quote:{quote.pk}]")
    deliver(connection, "create_quote", payload)
    assert Quote.objects.count() == 1
    assert QuoteLink.objects.get().quote == quote


def test_invoice_events(connection):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", dict(fixture("invoice.json"), status_id="1"))
    invoice = Invoice.objects.get()
    assert (invoice.number, invoice.status, invoice.total) == ("F-0042", Invoice.Status.DRAFT, 768)
    deliver(connection, "sent_invoice", later(fixture("invoice.json"), 10))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT
    deliver(connection, "update_invoice", later(fixture("invoice.json"), 20, due_date="2026-03-01"))
    invoice.refresh_from_db()
    assert str(invoice.due_date) == "2026-03-01"
    deliver(connection, "delete_invoice", later(fixture("invoice.json"), 30, is_deleted=True, archived_at=1))
    assert InvoiceLink.objects.get().remote_state == "deleted"


def test_payment_events_pay_then_refund_then_remove(connection):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    invoice = Invoice.objects.get()

    event = deliver(connection, "create_payment", fixture("payment_webhook.json"))
    assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
    invoice.refresh_from_db()
    payment = Payment.objects.get()
    assert (payment.amount, payment.external_id, payment.invoice) == (300.5, "XAbPy9bN73", invoice)
    assert (invoice.status, invoice.amount_paid) == (Invoice.Status.PARTIAL, 300.5)
    assert TimelineEntry.objects.filter(object_id=str(invoice.pk), message__startswith="Paiement reçu",
                                        webhook_event=event).exists()

    full = later(fixture("payment_webhook.json"), amount=768.0)
    full["paymentables"][0]["amount"] = 768.0
    deliver(connection, "update_payment", full)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, Payment.objects.get().amount) == (Invoice.Status.PAID, 768, 768)

    removed = deliver(connection, "delete_payment", later(full, 120, is_deleted=True))
    invoice.refresh_from_db()
    assert not Payment.objects.exists()
    assert (invoice.status, invoice.amount_paid) == (Invoice.Status.SENT, 0)
    said = [(entry.text, entry.level, entry.external_ids)
            for entry in TimelineEntry.objects.filter(webhook_event=removed).order_by("pk")]
    assert said == [("Paiement 0011 annulé ou supprimé dans Invoice Ninja.", "warning",
                     {"invoiceninja_payment_id": "XAbPy9bN73"}),
                    ("Facture « Envoyée » (payé : 0,00\xa0€).", "info", {})]


def test_a_payment_delivered_twice_is_recorded_once(connection):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    first = deliver(connection, "create_payment", fixture("payment_webhook.json"))
    WebhookEvent.objects.filter(pk=first.pk).update(status=WebhookEvent.Status.QUEUED)
    process_event(first.pk)  # a replay runs the handler again
    assert Payment.objects.count() == 1
    assert TimelineEntry.objects.filter(message__startswith="Paiement reçu").count() == 1


@responses.activate
def test_registration_creates_one_webhook_per_event_with_the_secret_header_and_is_idempotent(connection):
    created = []

    def store(request):
        body = json.loads(request.body)
        hook = dict(body, id=f"hook{len(created):06d}", event_id=str(body["event_id"]), is_deleted=False,
                    archived_at=0)
        created.append(hook)
        return 200, {}, json.dumps({"data": hook})

    def listing(request):
        return 200, {}, json.dumps({"data": created, "meta": {"pagination": {
            "total": len(created), "count": len(created), "per_page": 100, "current_page": 1, "total_pages": 1}}})

    responses.add_callback(responses.POST, f"{API}/webhooks", callback=store)
    responses.add_callback(responses.GET, f"{API}/webhooks", callback=listing)

    first = register_webhooks(connection)
    assert len(first.created) == len(REGISTERED_EVENTS)
    by_event = {int(h["event_id"]): h for h in created}
    assert by_event[EVENT_IDS["approve_quote"]]["target_url"] == (
        f"https://console.example.test/hooks/invoiceninja/{connection.webhook_endpoint_id}/approve_quote/")
    assert all(h["headers"] == {SECRET_HEADER: WEBHOOK_SECRET} for h in created)
    assert all(h["rest_method"] == "post" for h in created)

    second = register_webhooks(connection)
    assert (second.created, len(second.unchanged)) == ([], len(REGISTERED_EVENTS))
    assert len(created) == len(REGISTERED_EVENTS)


def test_a_change_in_the_same_second_is_not_mistaken_for_the_version_already_reflected(connection):
    # updated_at has one-second resolution: a quote approved in the second it was sent keeps its timestamp.
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "sent_quote", fixture("quote.json"))
    deliver(connection, "approve_quote", dict(fixture("quote.json"), status_id="3"))
    assert Quote.objects.get().status == Quote.Status.ACCEPTED


def deliver_raw(connection, event: str, body: bytes) -> WebhookEvent:
    response = Client().post(f"{connection.webhook_path()}{event}/", data=body, content_type="application/json",
                             headers={SECRET_HEADER: WEBHOOK_SECRET})
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.get(pk=response.json()["id"])


@pytest.mark.parametrize("amount", [b"1e400", b"NaN", b"-Infinity"])
def test_a_payment_whose_amount_the_database_refuses_fails_at_once_and_is_not_retried(connection, amount):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    body = json.dumps(fixture("payment_webhook.json")).replace('"amount": 300.5', '"amount": AMOUNT', 1)
    event = deliver_raw(connection, "create_payment", body.replace("AMOUNT", amount.decode()).encode())
    assert process_event(event.pk) == WebhookEvent.Status.FAILED  # returns: RQ schedules no retry
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)
    assert event.last_error.startswith("Données refusées, sans nouvel essai")
    assert not Payment.objects.exists()


@responses.activate
@pytest.mark.parametrize("client_id", ["", None])
def test_a_quote_without_a_client_id_never_asks_for_an_empty_client(connection, client_id):
    responses.add(responses.GET, f"{API}/clients/", json={"data": {}})
    event = deliver_raw(connection, "create_quote", json.dumps(dict(fixture("quote.json"), client_id=client_id)).encode())
    process_event(event.pk)
    event.refresh_from_db()
    assert [call.request.url for call in responses.calls] == []
    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)
    assert event.last_error == ("Données refusées, sans nouvel essai (ValueError: Objet Invoice Ninja sans client "
                                "(client_id vide) : rien à rattacher.)")
    assert not Quote.objects.exists()


def test_two_different_updates_of_one_client_in_the_same_second_are_both_applied(connection):
    deliver(connection, "create_client", fixture("client.json"))
    first = deliver(connection, "update_client", later(fixture("client.json"), 5, name="Librairie A"))
    second = deliver(connection, "update_client", later(fixture("client.json"), 5, name="Librairie B"))
    assert (first.status, second.status) == (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.PROCESSED)
    assert Company.objects.get().name == "Librairie B"
    again = deliver_raw(connection, "update_client", bytes(second.body))  # the same delivery twice: one effect
    assert again.status == WebhookEvent.Status.DUPLICATE


def test_client_values_longer_than_the_hub_columns_are_cut_visibly_not_refused(connection):
    long_client = dict(fixture("client.json"), name="Librairie " + "des Quais " * 30, postal_code="75001-CEDEX-" * 4,
                       city="Paris " * 40, vat_number="FR" + "1" * 60, address1="5 quai Voltaire " * 20,
                       phone="01 42 00 00 00 " * 5)
    event = deliver(connection, "create_client", long_client)
    assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
    company = Company.objects.get()
    assert len(company.name) == 200 and company.name.endswith("…")
    assert {len(version.name) for version in company.history.all()} == {200}  # the first INSERT too (PostgreSQL)
    assert len(company.vat_number) == 40 and company.vat_number.endswith("…")
    assert len(company.address1) == 200 and company.address1.endswith("…")
    assert len(company.phone) == 40 and company.phone.endswith("…")
    assert len(company.postal_code) == 20 and company.postal_code.endswith("…")
    assert len(company.city) == 100 and company.city.endswith("…")


def test_a_client_whose_id_is_longer_than_any_column_fails_at_once_with_a_reason(connection):
    event = deliver_raw(connection, "create_client", json.dumps(dict(fixture("client.json"), id="V" * 2000)).encode())
    assert process_event(event.pk) == WebhookEvent.Status.FAILED
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)
    assert "identifiant de 2000 caractères" in event.last_error
    assert not Company.objects.exists()


def accepted_quote_whose_mirror_names_the_invoice(connection, quote) -> QuoteLink:
    """An accepted quote, linked and in step, whose Invoice Ninja copy names invoice.json's invoice: what a
    conversion in Invoice Ninja leaves before the invoice's webhook arrives."""
    from django.utils import timezone

    from apps.invoiceninja.models import QuoteMirror

    quote.status = Quote.Status.ACCEPTED
    quote.save()
    ClientLink.objects.create(connection=connection, company=quote.company, external_id="VolejRejNm",
                              last_synced_at=timezone.now())
    quote_link = QuoteLink.objects.create(connection=connection, quote=quote, external_id="Qu000001",
                                          last_synced_at=timezone.now())
    QuoteMirror.objects.create(connection=connection, external_id="Qu000001", invoice_id="Opnel5aKBz")
    return quote_link


def test_an_invoice_converted_in_invoice_ninja_becomes_the_quote_s_one_invoice_and_converts_it(connection, quote):
    quote.currency, quote.notes = "CHF", "Livraison en mars"
    quote_link = accepted_quote_whose_mirror_names_the_invoice(connection, quote)
    event = deliver(connection, "create_invoice", fixture("invoice.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))  # delivered again: still one invoice
    invoice = Invoice.objects.get()
    quote.refresh_from_db()
    assert (invoice.quote, invoice.currency, invoice.title, invoice.notes) == (
        quote, "CHF", "Refonte du site", "Livraison en mars")
    assert InvoiceLink.objects.get(invoice=invoice).number == "F-0042"
    assert quote.status == Quote.Status.CONVERTED
    said = {(entry.target, entry.text) for entry in TimelineEntry.objects.filter(webhook_event=event)}
    assert said == {(quote, "Converti en facture F-0042 dans Invoice Ninja."),
                    (invoice, "Invoice Ninja : statut « Envoyée ».")}
    # Becoming « converted » is Invoice Ninja's doing, not a local edit: its next change of the quote applies.
    quote_link.refresh_from_db()
    assert not quote_link.has_local_changes(quote)


def test_a_quote_emailed_again_while_invoice_ninja_converts_it_keeps_its_sending_date(connection, quote):
    from django.utils import timezone

    quote_link = accepted_quote_whose_mirror_names_the_invoice(connection, quote)
    emailed_at = timezone.now()
    with written_meanwhile(QuoteLink, quote_link.pk, emailed_at=emailed_at) as preceded:
        deliver(connection, "create_invoice", fixture("invoice.json"))
    assert preceded
    quote_link.refresh_from_db()
    assert quote_link.emailed_at == emailed_at
    assert Quote.objects.get().status == Quote.Status.CONVERTED


def test_an_invoice_archived_in_invoice_ninja_while_emailed_from_the_console_keeps_its_sending_date(connection):
    from django.utils import timezone

    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    link = InvoiceLink.objects.get()
    emailed_at = timezone.now()
    archived = later(fixture("invoice.json"), 5, archived_at=int(timezone.now().timestamp()))
    with written_meanwhile(InvoiceLink, link.pk, emailed_at=emailed_at) as preceded:
        deliver(connection, "update_invoice", archived)
    assert preceded
    link.refresh_from_db()
    assert (link.remote_state, link.emailed_at) == (InvoiceLink.RemoteState.ARCHIVED, emailed_at)


def test_an_invoice_noted_while_it_is_attached_to_its_quote_keeps_the_note(connection, quote):
    from apps.invoiceninja import reconcile

    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    imported = Invoice.objects.get()
    with written_meanwhile(Invoice, imported.pk, notes="Relancé par téléphone le 3 mars") as preceded:
        reconcile.invoice_from_converted_quote(connection, quote, fixture("invoice.json"))
    assert preceded
    imported.refresh_from_db()
    assert (imported.quote, imported.notes) == (quote, "Relancé par téléphone le 3 mars")


def test_an_invoice_imported_before_its_quote_was_known_is_attached_to_it_not_duplicated(connection, quote):
    from apps.invoiceninja import reconcile

    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))  # no marker, no mirror: a plain import
    imported = Invoice.objects.get()
    assert imported.quote is None
    joined = reconcile.invoice_from_converted_quote(connection, quote, fixture("invoice.json"))
    assert joined.pk == imported.pk and Invoice.objects.count() == 1
    imported.refresh_from_db()
    assert imported.quote == quote


def test_an_invoice_created_by_the_console_is_adopted_not_duplicated(connection):
    # The webhook can arrive before the action saved its link: the marker in the private notes finds the invoice.
    deliver(connection, "create_client", fixture("client.json"))
    invoice = Invoice.objects.create(company=Company.objects.get(), title="Acompte", status=Invoice.Status.DRAFT)
    marked = dict(fixture("invoice.json"), private_notes=f"[console:invoice:{invoice.pk}]")
    deliver(connection, "create_invoice", marked)
    assert list(Invoice.objects.values_list("pk", flat=True)) == [invoice.pk]
    link = InvoiceLink.objects.get()
    assert (link.connection, link.invoice, link.external_id, link.number) == (connection, invoice, "Opnel5aKBz",
                                                                              "F-0042")
    assert not link.has_local_changes(invoice)  # in step: Invoice Ninja's next change applies


@pytest.mark.parametrize("amount, counts", [(0.01, True), (0, False)])
def test_a_payment_counts_from_its_first_cent(connection, amount, counts):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    payment = fixture("payment_webhook.json")
    payment["amount"] = payment["paymentables"][0]["amount"] = amount
    deliver(connection, "create_payment", payment)
    invoice = Invoice.objects.get()
    assert Payment.objects.filter(invoice=invoice).exists() is counts
    assert invoice.status == (Invoice.Status.PARTIAL if counts else Invoice.Status.SENT)


@responses.activate
def test_a_second_invoice_ninja_never_pays_the_first_one_s_invoice_of_the_same_id(connection):
    from apps.core.webhooks.processing import HandlerFailed

    other = Connection.objects.create(provider="invoiceninja", name="IN 2", slug="in-2", base_url="https://in2.test",
                                      secrets={"api_token": "tok-abcdef0123456789"}, webhook_secrets=[WEBHOOK_SECRET])
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    first = Invoice.objects.get()
    # The other instance's payment names an invoice id known only from the first one: it is asked of the other
    # instance (unreachable here, so the event waits for a retry), never taken for the first one's invoice.
    try:
        deliver(other, "create_payment", fixture("payment_webhook.json"))
    except HandlerFailed:
        pass
    first.refresh_from_db()
    assert (first.status, first.amount_paid, Payment.objects.count()) == (Invoice.Status.SENT, 0, 0)


def test_a_second_invoice_ninja_s_invoice_of_the_same_id_is_its_own_invoice(connection):
    other = Connection.objects.create(provider="invoiceninja", name="IN 2", slug="in-2", base_url="https://in2.test",
                                      secrets={"api_token": "tok-abcdef0123456789"}, webhook_secrets=[WEBHOOK_SECRET])
    for instance, number in ((connection, "F-0042"), (other, "B-0007")):
        deliver(instance, "create_client", fixture("client.json"))
        deliver(instance, "create_invoice", dict(fixture("invoice.json"), number=number))
    assert sorted(Invoice.objects.values_list("number", flat=True)) == ["B-0007", "F-0042"]


def test_a_quote_imported_from_invoice_ninja_says_so_on_its_timeline_in_its_customer_s_currency(connection):
    deliver(connection, "create_client", fixture("client.json"))
    Company.objects.update(currency="CHF")
    event = deliver(connection, "create_quote", fixture("quote.json"))
    quote = Quote.objects.get()
    assert quote.currency == "CHF"
    assert QuoteLink.objects.get(quote=quote).number == fixture("quote.json")["number"]
    said = TimelineEntry.objects.filter(object_id=str(quote.pk), webhook_event=event, provider="invoiceninja")
    imported = said.get(message_id="Devis importé depuis Invoice Ninja.")
    assert imported.text == "Devis importé depuis Invoice Ninja."
    assert imported.external_ids == {"invoiceninja_id": fixture("quote.json")["id"]}


def test_a_quote_created_by_the_console_and_adopted_shows_invoice_ninja_s_number(connection, quote):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_quote", dict(fixture("quote.json"), private_notes=f"[console:quote:{quote.pk}]"))
    assert QuoteLink.objects.get(quote=quote).number == fixture("quote.json")["number"]


# What a user reads on the hub record ------------------------------------------------------------------------
def other_instance():
    return Connection.objects.create(provider="invoiceninja", name="IN 2", slug="in-2", base_url="https://in2.test",
                                     secrets={"api_token": "tok-abcdef0123456789"}, webhook_secrets=[WEBHOOK_SECRET])


def timeline(record):
    return TimelineEntry.objects.filter(object_id=str(record.pk), content_type__model=record._meta.model_name)


def test_an_imported_client_brings_its_address_its_currency_and_each_contact_with_an_address(connection):
    contacts = [dict(fixture("client.json")["contacts"][0], phone="06 12 34 56 78"),
                {"id": "c2", "email": "compta@librairie-quais.example", "first_name": None, "last_name": None,
                 "phone": None, "is_primary": False},
                {"id": "c3", "email": "", "first_name": "Sans", "last_name": "Adresse", "is_primary": False}]
    event = deliver(connection, "create_client", dict(fixture("client.json"), settings={"currency_id": "1"},
                                                      contacts=contacts))
    company = Company.objects.get()
    assert (company.name, company.vat_number, company.address1, company.postal_code, company.city, company.phone,
            company.currency, company.email) == ("Librairie des Quais", "FR12345678901", "5 quai Voltaire", "75007",
                                                 "Paris", "01 42 00 00 00", "USD", "ines@librairie-quais.example")
    assert set(company.contacts.values_list("first_name", "last_name", "email", "phone", "is_primary")) == {
        ("Inès", "Roux", "ines@librairie-quais.example", "06 12 34 56 78", True),
        ("", "", "compta@librairie-quais.example", "", False)}
    link = ClientLink.objects.get()
    assert (link.company, link.number, link.remote_state) == (company, "0007", "active")
    (entry,) = timeline(company)
    assert (entry.message_id, entry.text, entry.level, entry.provider, entry.webhook_event, entry.external_ids) == (
        "Client importé depuis Invoice Ninja.", "Client importé depuis Invoice Ninja.", "info", "invoiceninja", event,
        {"invoiceninja_id": "VolejRejNm"})


def test_a_client_update_clears_what_invoice_ninja_cleared_and_adds_only_new_contacts(connection):
    deliver(connection, "create_client", fixture("client.json"))
    ines = dict(fixture("client.json")["contacts"][0], email="Ines@Librairie-Quais.EXAMPLE")
    paul = {"id": "c9", "email": "paul@librairie-quais.example", "first_name": "Paul", "last_name": "Roux"}
    deliver(connection, "update_client", later(fixture("client.json"), vat_number="", address1=None, postal_code="",
                                               city="", phone="", contacts=[ines, paul]))
    company = Company.objects.get()
    assert (company.vat_number, company.address1, company.postal_code, company.city, company.phone) == ("",) * 5
    assert company.email == "ines@librairie-quais.example"  # the company's own address is kept
    assert sorted(company.contacts.values_list("email", flat=True)) == ["ines@librairie-quais.example",
                                                                         "paul@librairie-quais.example"]


@pytest.mark.parametrize("names, shown", [({"name": "", "number": "0007"}, "0007"),
                                          ({"name": None, "number": ""}, "VolejRejNm")])
def test_a_client_without_a_name_is_named_by_its_number_or_else_by_its_id(connection, names, shown):
    deliver(connection, "create_client", dict(fixture("client.json"), **names))
    assert Company.objects.get().name == shown


def test_a_client_created_by_the_console_is_adopted_not_duplicated(connection, company):
    deliver(connection, "create_client", dict(fixture("client.json"), private_notes=f"[console:company:{company.pk}]"))
    assert list(Company.objects.all()) == [company]
    assert ClientLink.objects.get().company == company


def test_a_client_deleted_before_the_console_saw_it_is_not_imported_and_a_document_of_it_says_why(connection):
    from apps.invoiceninja import reconcile

    deleted = dict(fixture("client.json"), is_deleted=True, archived_at=1767230000)
    deliver(connection, "delete_client", deleted)
    assert not Company.objects.exists()
    with pytest.raises(reconcile.MissingDependency) as unknown:
        reconcile.company_for_client(connection, "VolejRejNm")
    assert str(unknown.value) == "Client Invoice Ninja VolejRejNm inconnu de la console"
    with pytest.raises(reconcile.MissingDependency) as gone:
        reconcile.company_for_client(connection, "VolejRejNm", fetch=lambda client_id: deleted)
    assert str(gone.value) == "Client Invoice Ninja VolejRejNm supprimé"
    assert not Company.objects.exists()


def test_each_quote_belongs_to_its_own_customer_in_its_own_invoice_ninja(connection):
    other = other_instance()
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_client", dict(fixture("client.json"), id="Client0002", name="Éditions du Port",
                                              number="0008", contacts=[]))
    deliver(other, "create_client", dict(fixture("client.json"), name="Librairie (IN 2)"))
    deliver(connection, "create_quote", dict(fixture("quote.json"), client_id="Client0002"))
    deliver(other, "create_quote", dict(fixture("quote.json"), number="B-0001"))
    assert sorted(Quote.objects.values_list("number", "company__name")) == [("0042", "Éditions du Port"),
                                                                           ("B-0001", "Librairie (IN 2)")]


KINDS = [("client", "client.json", "Client", Company), ("quote", "quote.json", "Devis", Quote),
         ("invoice", "invoice.json", "Facture", Invoice)]


def imported(connection, kind, fixture_name, model, **changes):
    deliver(connection, "create_client", fixture("client.json") if kind != "client" else
            dict(fixture("client.json"), **changes))
    if kind != "client":
        deliver(connection, f"create_{kind}", dict(fixture(fixture_name), **changes))
    return model.objects.get()


@pytest.mark.parametrize("kind, fixture_name, label, model", KINDS)
def test_archiving_in_invoice_ninja_is_written_on_the_record_with_its_event(connection, kind, fixture_name, label,
                                                                           model):
    record = imported(connection, kind, fixture_name, model)
    event = deliver(connection, f"update_{kind}", later(fixture(fixture_name), archived_at=1767230000))
    (entry,) = timeline(record).filter(level="warning")
    assert (entry.text, entry.webhook_event, entry.external_ids) == (
        f"{label} archivé dans Invoice Ninja.", event, {"invoiceninja_id": fixture(fixture_name)["id"]})


@pytest.mark.parametrize("kind, fixture_name, label, model", KINDS)
def test_a_record_imported_archived_is_shown_archived(connection, kind, fixture_name, label, model):
    record = imported(connection, kind, fixture_name, model, archived_at=1767230000)
    assert record.invoiceninja_links.get().remote_state == "archived"


@pytest.mark.parametrize("kind, fixture_name, label, model", KINDS)
def test_a_record_changed_on_both_sides_keeps_the_console_s_version_until_invoice_ninja_s_is_taken(
        connection, kind, fixture_name, label, model):
    from apps.invoiceninja import reconcile

    record = imported(connection, kind, fixture_name, model)
    field, remote_field = ("phone", "phone") if kind == "client" else ("notes", "public_notes")
    setattr(record, field, "Changé dans la console")
    record.save()
    remote = later(fixture(fixture_name), **{remote_field: "Changé dans Invoice Ninja"})
    event = deliver(connection, f"update_{kind}", remote)
    deliver(connection, f"update_{kind}", later(remote, 5, **{remote_field: "Encore changé"}))
    record.refresh_from_db()
    assert getattr(record, field) == "Changé dans la console"
    link = record.invoiceninja_links.get()
    assert link.conflict_detail == ("Modifié dans la console et dans Invoice Ninja depuis la dernière "
                                    "synchronisation ; aucune des deux versions n'a été écrasée.")
    (entry,) = timeline(record).filter(level="warning")  # said once, not at each delivery
    assert (entry.message_id, entry.text, entry.webhook_event, entry.external_ids) == (
        "Conflit de synchronisation Invoice Ninja : %(label)s modifié des deux côtés.",
        f"Conflit de synchronisation Invoice Ninja : {label} modifié des deux côtés.", event,
        {"invoiceninja_id": fixture(fixture_name)["id"]})

    getattr(reconcile, f"apply_{kind}")(connection, remote, force=True)  # « Reprendre la version Invoice Ninja »
    record.refresh_from_db()
    link.refresh_from_db()
    assert getattr(record, field) == "Changé dans Invoice Ninja" and not link.in_conflict


@pytest.mark.parametrize("kind, fixture_name, label, model", KINDS)
def test_a_late_delivery_of_an_older_version_changes_nothing(connection, kind, fixture_name, label, model):
    record = imported(connection, kind, fixture_name, model)
    field, remote_field = ("phone", "phone") if kind == "client" else ("notes", "public_notes")
    deliver(connection, f"update_{kind}", later(fixture(fixture_name), 60, **{remote_field: "Version 2"}))
    deliver(connection, f"update_{kind}", later(fixture(fixture_name), 30, **{remote_field: "Version 1"}))
    record.refresh_from_db()
    assert getattr(record, field) == "Version 2"


@pytest.mark.parametrize("reflected_by", ["import", "update"])
def test_the_version_already_reflected_delivered_again_never_undoes_a_console_edit(connection, reflected_by):
    # Invoice Ninja sends update_quote and sent_quote for one change; the sync lists it again later.
    deliver(connection, "create_client", fixture("client.json"))
    reflected = fixture("quote.json")
    deliver(connection, "create_quote", reflected)
    if reflected_by == "update":
        reflected = later(reflected, public_notes="Catalogue 2026")
        deliver(connection, "update_quote", reflected)
    quote = Quote.objects.get()
    quote.notes = "Édité dans la console"
    quote.save()
    deliver(connection, "sent_quote", reflected)
    quote.refresh_from_db()
    assert quote.notes == "Édité dans la console" and not QuoteLink.objects.get().in_conflict


def test_a_number_changed_in_invoice_ninja_is_shown_on_the_invoice_and_its_link(connection):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    deliver(connection, "update_invoice", later(fixture("invoice.json"), number="F-0043"))
    assert (Invoice.objects.get().number, InvoiceLink.objects.get().number) == ("F-0043", "F-0043")
    deliver(connection, "update_invoice", later(fixture("invoice.json"), 90, number=""))
    assert (Invoice.objects.get().number, InvoiceLink.objects.get().number) == ("F-0043", "F-0043")


def test_each_status_change_is_written_once_with_its_event_and_approval_or_payment_as_a_success(connection):
    deliver(connection, "create_client", fixture("client.json"))
    created = deliver(connection, "create_quote", fixture("quote.json"))
    deliver(connection, "update_quote", later(fixture("quote.json"), 10, public_notes="Sans changement de statut"))
    approved = deliver(connection, "approve_quote", later(fixture("quote.json"), 20, status_id="3"))
    sent = deliver(connection, "create_invoice", fixture("invoice.json"))
    paid = deliver(connection, "update_invoice", later(fixture("invoice.json"), status_id="4"))
    said = [(entry.text, entry.level, entry.webhook_event, entry.external_ids)
            for entry in TimelineEntry.objects.filter(message_id__startswith="Invoice Ninja : statut").order_by("pk")]
    quote_id, invoice_id = {"invoiceninja_id": "Wpmbk5ezJn"}, {"invoiceninja_id": "Opnel5aKBz"}
    assert said == [("Invoice Ninja : statut « Envoyé ».", "info", created, quote_id),
                    ("Invoice Ninja : statut « Accepté ».", "success", approved, quote_id),
                    ("Invoice Ninja : statut « Envoyée ».", "info", sent, invoice_id),
                    ("Invoice Ninja : statut « Payée ».", "success", paid, invoice_id)]
    imported_entry = timeline(Invoice.objects.get()).get(message_id="Facture importée depuis Invoice Ninja.")
    assert (imported_entry.text, imported_entry.level, imported_entry.webhook_event, imported_entry.external_ids) == (
        "Facture importée depuis Invoice Ninja.", "info", sent, invoice_id)


def test_dates_and_the_amount_paid_come_from_invoice_ninja_and_a_blank_date_keeps_the_known_one(connection):
    from datetime import date

    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_quote", fixture("quote.json"))
    deliver(connection, "create_invoice", dict(fixture("invoice.json"), paid_to_date=100.5))
    quote, invoice = Quote.objects.get(), Invoice.objects.get()
    assert (quote.issue_date, quote.valid_until) == (date(2026, 1, 1), date(2026, 12, 31))
    assert (invoice.issue_date, invoice.due_date, invoice.amount_paid) == (date(2026, 1, 2), date(2026, 2, 1), 100.5)
    deliver(connection, "update_quote", later(fixture("quote.json"), date="2026-01-05", due_date="2027-01-31"))
    deliver(connection, "update_invoice", later(fixture("invoice.json"), date="2026-01-06", due_date="2026-03-01"))
    quote.refresh_from_db()
    invoice.refresh_from_db()
    assert (quote.issue_date, quote.valid_until) == (date(2026, 1, 5), date(2027, 1, 31))
    assert (invoice.issue_date, invoice.due_date) == (date(2026, 1, 6), date(2026, 3, 1))
    deliver(connection, "update_quote", later(fixture("quote.json"), 90, date="", due_date=""))
    deliver(connection, "update_invoice", later(fixture("invoice.json"), 90, date="", due_date=""))
    quote.refresh_from_db()
    invoice.refresh_from_db()
    assert (quote.issue_date, quote.valid_until) == (date(2026, 1, 5), date(2027, 1, 31))
    assert (invoice.issue_date, invoice.due_date) == (date(2026, 1, 6), date(2026, 3, 1))


@responses.activate
def test_an_invoice_for_a_client_never_seen_fetches_it_and_is_in_its_currency(connection):
    responses.get(f"{API}/clients/VolejRejNm", json={"data": dict(fixture("client.json"), settings={"currency_id": "2"})})
    event = deliver(connection, "create_invoice", fixture("invoice.json"))
    assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
    invoice = Invoice.objects.get()
    assert (invoice.company.name, invoice.company.currency, invoice.currency) == ("Librairie des Quais", "GBP", "GBP")


@pytest.mark.parametrize("kind, fixture_name", [("quote", "quote.json"), ("invoice", "invoice.json")])
def test_a_document_deleted_before_the_console_saw_it_is_not_imported(connection, kind, fixture_name):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, f"delete_{kind}", dict(fixture(fixture_name), is_deleted=True, archived_at=1767230000))
    assert not Quote.objects.exists() and not Invoice.objects.exists()


def without_number(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key != "number"}


@pytest.mark.parametrize("kind, fixture_name, label, model", KINDS)
def test_a_record_without_a_number_in_invoice_ninja_is_linked_without_one(connection, kind, fixture_name, label,
                                                                          model):
    deliver(connection, "create_client", without_number(fixture("client.json")) if kind == "client"
            else fixture("client.json"))
    if kind != "client":
        deliver(connection, f"create_{kind}", without_number(fixture(fixture_name)))
    assert model.objects.get().invoiceninja_links.get().number == ""


@pytest.mark.parametrize("kind, fixture_name, model", [("quote", "quote.json", Quote),
                                                       ("invoice", "invoice.json", Invoice)])
def test_a_console_document_adopted_without_a_number_is_linked_without_one(connection, company, kind, fixture_name,
                                                                           model):
    deliver(connection, "create_client", fixture("client.json"))
    document = model.objects.create(company=company, title="Acompte")
    deliver(connection, f"create_{kind}", dict(without_number(fixture(fixture_name)),
                                               private_notes=f"[console:{kind}:{document.pk}]"))
    link = document.invoiceninja_links.get()
    assert (model.objects.count(), link.external_id, link.number) == (1, fixture(fixture_name)["id"], "")


def test_a_quote_converted_in_invoice_ninja_gets_its_own_invoice_next_to_the_instance_s_other_documents(
        connection, quote):
    from django.utils import timezone

    from apps.invoiceninja.models import QuoteMirror

    other = other_instance()
    elsewhere = Invoice.objects.create(company=quote.company, number="B-0001")
    InvoiceLink.objects.create(connection=other, invoice=elsewhere, external_id="Opnel5aKBz")
    earlier = Invoice.objects.create(company=quote.company, number="F-0001")
    InvoiceLink.objects.create(connection=connection, invoice=earlier, external_id="In000001")
    older_quote = Quote.objects.create(company=quote.company, title="Autre devis")
    QuoteLink.objects.create(connection=connection, quote=older_quote, external_id="Qu000000")
    QuoteLink.objects.create(connection=other, quote=quote, external_id="Qu000001")  # also sent to the other one
    ClientLink.objects.create(connection=connection, company=quote.company, external_id="VolejRejNm",
                              last_synced_at=timezone.now())
    quote_link = QuoteLink.objects.create(connection=connection, quote=quote, external_id="Qu000001",
                                          last_synced_at=timezone.now())
    QuoteMirror.objects.create(connection=connection, external_id="Qu000001", invoice_id="Opnel5aKBz")

    event = deliver(connection, "create_invoice", without_number(fixture("invoice.json")))
    invoice = Invoice.objects.get(quote=quote)
    assert invoice.pk not in (elsewhere.pk, earlier.pk)
    link = InvoiceLink.objects.get(connection=connection, invoice=invoice)
    assert (link.external_id, link.number) == ("Opnel5aKBz", "")
    entry = timeline(quote).get(webhook_event=event)
    assert (entry.text, entry.level, entry.external_ids) == (
        "Converti en facture — dans Invoice Ninja.", "success", {"invoiceninja_invoice_id": "Opnel5aKBz"})
    quote_link.refresh_from_db()
    quote.refresh_from_db()
    assert not quote_link.has_local_changes(quote)


def test_an_invoice_carrying_the_marker_of_a_console_quote_never_linked_becomes_its_invoice(connection, quote):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", dict(fixture("invoice.json"), private_notes=f"[console:quote:{quote.pk}]"))
    invoice = Invoice.objects.get()
    quote.refresh_from_db()
    assert (invoice.quote, quote.status) == (quote, Quote.Status.CONVERTED)


def test_an_imported_invoice_joins_exactly_the_quote_invoice_ninja_converted_into_it(connection, company):
    from apps.invoiceninja.models import QuoteMirror

    other = other_instance()
    theirs, unconverted, converted = (Quote.objects.create(company=company, title=title)
                                      for title in ("Devis de l'autre instance", "Devis en cours", "Devis converti"))
    QuoteMirror.objects.create(connection=other, external_id="Qu000009", invoice_id="Opnel5aKBz")
    QuoteLink.objects.create(connection=other, quote=theirs, external_id="Qu000002")
    QuoteLink.objects.create(connection=connection, quote=unconverted, external_id="Qu000001")
    QuoteMirror.objects.create(connection=connection, external_id="Qu000001", invoice_id="")
    QuoteLink.objects.create(connection=connection, quote=converted, external_id="Qu000002")
    QuoteMirror.objects.create(connection=connection, external_id="Qu000002", invoice_id="Opnel5aKBz")
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    assert Invoice.objects.get().quote == converted


def test_an_invoice_whose_converted_quote_the_console_never_linked_is_imported_on_its_own(connection):
    from apps.invoiceninja.models import QuoteMirror

    QuoteMirror.objects.create(connection=connection, external_id="Qu000001", invoice_id="Opnel5aKBz")
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    assert Invoice.objects.get().quote is None


def test_lines_are_named_by_their_notes_their_product_or_a_dash_and_kept_in_invoice_ninja_s_order(connection):
    items = [dict(fixture("quote.json")["line_items"][0], notes="", product_key="LIVRE-01"),
             dict(fixture("quote.json")["line_items"][0], notes=None, product_key=""),
             dict(fixture("quote.json")["line_items"][0], notes="Reliure " * 100)]
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_quote", dict(fixture("quote.json"), line_items=items))
    lines = list(Quote.objects.get().lines.values_list("position", "description"))
    assert [(position, description[:8]) for position, description in lines] == [(0, "LIVRE-01"), (1, "—"),
                                                                                 (2, "Reliure ")]
    assert len(lines[2][1]) == 500


def test_new_lines_replace_the_old_ones_and_unchanged_lines_are_left_alone(connection):
    deliver(connection, "create_client", fixture("client.json"))
    deliver(connection, "create_invoice", fixture("invoice.json"))
    invoice = Invoice.objects.get()
    kept = list(invoice.lines.values_list("pk", flat=True))
    deliver(connection, "update_invoice", later(fixture("invoice.json"), 10, public_notes="Merci"))
    assert list(invoice.lines.values_list("pk", flat=True)) == kept
    item = dict(fixture("invoice.json")["line_items"][0], notes="Catalogue révisé", quantity=3)
    deliver(connection, "update_invoice", later(fixture("invoice.json"), 20, line_items=[item]))
    invoice.refresh_from_db()
    assert list(invoice.lines.values_list("description", "quantity")) == [("Catalogue révisé", 3)]
    assert invoice.total == 1152


@responses.activate
def test_a_payment_for_an_invoice_never_seen_fetches_it_and_all_it_writes_names_the_payment_s_event(connection):
    deliver(connection, "create_client", fixture("client.json"))
    responses.get(f"{API}/invoices/Opnel5aKBz", json={"data": fixture("invoice.json")})
    event = deliver(connection, "create_payment", fixture("payment_webhook.json"))
    assert event.status == WebhookEvent.Status.PROCESSED, event.last_error
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.amount_paid) == (Invoice.Status.PARTIAL, 300.5)
    said = [(entry.text, entry.webhook_event, entry.external_ids) for entry in timeline(invoice).order_by("pk")]
    assert said == [
        ("Invoice Ninja : statut « Envoyée ».", event, {"invoiceninja_id": "Opnel5aKBz"}),
        ("Facture importée depuis Invoice Ninja.", event, {"invoiceninja_id": "Opnel5aKBz"}),
        ("Paiement reçu via Invoice Ninja : 300,50\xa0€ (n° 0011).", event, {"invoiceninja_payment_id": "XAbPy9bN73"}),
        ("Facture « Partiellement payée » (payé : 300,50\xa0€).", event, {})]
