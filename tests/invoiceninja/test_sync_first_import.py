"""A first import writes a page of new documents at once, and they behave as if imported one by one."""

import pytest
import responses

from apps.core import live_receivers
from apps.core.models import Connection, SyncRun, TimelineEntry
from apps.core.sync import run_sync
from apps.directus.models import OutboxEntry
from apps.hub.models import Invoice, Quote
from apps.invoiceninja.models import InvoiceLink
from tests.invoiceninja.conftest import API, fixture
from tests.invoiceninja.test_sync import client, page_of, start

pytestmark = pytest.mark.django_db


def invoice(n, **changes):
    return {**fixture("invoice.json"), "id": f"In{n:06d}", "number": f"F-{n:04d}", "client_id": "Client0001",
            "private_notes": "", "updated_at": 100 + n, **changes}


def import_invoices(connection, invoices):
    responses.get(f"{API}/clients", json=page_of([client(1, 100)], 1, 1))
    responses.get(f"{API}/invoices", json=page_of(invoices, 1, 1))
    run_sync(start(connection, "clients").pk)
    run = start(connection, "invoices")
    run_sync(run.pk)
    run.refresh_from_db()
    return run


def timeline(document):
    return list(TimelineEntry.objects.filter(object_id=str(document.pk), content_type__model=document._meta.model_name)
                .values_list("message", "level"))


@responses.activate
def test_each_imported_invoice_gets_one_timeline_entry_that_names_the_status_it_arrived_in(connection,
                                                                                           redis_connection):
    run = import_invoices(connection, [invoice(1, status_id="1"), invoice(2, status_id="4")])
    assert (run.status, run.added, run.failed) == (SyncRun.Status.SUCCEEDED, 2, 0)
    assert timeline(Invoice.objects.get(number="F-0001")) == [("Facture importée depuis Invoice Ninja.", "info")]
    assert timeline(Invoice.objects.get(number="F-0002")) == [
        ("Facture importée depuis Invoice Ninja (statut « Payée »).", "success")]


@responses.activate
def test_an_imported_invoice_takes_the_next_remote_change_without_a_conflict(connection, redis_connection):
    import_invoices(connection, [invoice(1, public_notes="Première version")])
    responses.replace(responses.GET, f"{API}/invoices",
                      json=page_of([invoice(1, public_notes="Seconde version", updated_at=500)], 1, 1))
    run_sync(start(connection, "invoices").pk)
    hub_invoice = Invoice.objects.get(number="F-0001")
    assert hub_invoice.notes == "Seconde version"
    assert not InvoiceLink.objects.get(invoice=hub_invoice).in_conflict


@responses.activate
def test_an_odd_invoice_on_a_page_fails_alone_and_the_others_are_imported(connection, redis_connection):
    run = import_invoices(connection, [invoice(1), invoice(2, number=None), invoice(3)])
    assert (run.status, run.added, run.failed) == (SyncRun.Status.SUCCEEDED, 3, 1)
    assert sorted(Invoice.objects.values_list("number", flat=True)) == ["F-0001", "F-0003"]
    assert InvoiceLink.objects.count() == 2


@responses.activate
def test_quotes_of_a_first_import_are_inserted_with_their_lines_links_and_one_entry(connection, redis_connection):
    quote = dict(fixture("quote.json"), id="Qu000001", number="D-0001", client_id="Client0001", private_notes="",
                 status_id="3", updated_at=100)
    responses.get(f"{API}/clients", json=page_of([client(1, 100)], 1, 1))
    responses.get(f"{API}/quotes", json=page_of([quote], 1, 1))
    run_sync(start(connection, "clients").pk)
    run_sync(start(connection, "quotes").pk)
    hub_quote = Quote.objects.get(number="D-0001")
    assert hub_quote.status == Quote.Status.ACCEPTED
    assert hub_quote.lines.count() == len(quote["line_items"]) and hub_quote.total > 0
    assert hub_quote.invoiceninja_links.get().external_id == "Qu000001"
    assert timeline(hub_quote) == [("Devis importé depuis Invoice Ninja (statut « Accepté »).", "success")]


@responses.activate
def test_invoices_imported_together_reach_the_directus_outbox(connection, redis_connection):
    Connection.objects.create(provider="directus", name="Directus", slug="directus", base_url="https://d.example.test",
                              secrets={"token": "static-token-0123456789abcdef"})
    import_invoices(connection, [invoice(1), invoice(2)])
    pushed = set(OutboxEntry.objects.filter(collection="invoices").values_list("payload__number", flat=True))
    assert pushed == {"F-0001", "F-0002"}


@responses.activate
def test_a_page_open_on_an_imported_invoice_is_pushed_its_timeline(connection, redis_connection, monkeypatch,
                                                                    django_capture_on_commit_callbacks):
    pushed = []
    monkeypatch.setattr(live_receivers.live, "has_listeners", lambda group: True)
    monkeypatch.setattr(live_receivers.live, "push_in_each_language",
                        lambda group, template, context: pushed.append(group))
    with django_capture_on_commit_callbacks(execute=True):
        import_invoices(connection, [invoice(1), invoice(2)])
    groups = {f"actions.{entry.content_type_id}.{entry.object_id}"
              for entry in TimelineEntry.objects.filter(content_type__model="invoice")}
    assert len(groups) == 2 and groups <= set(pushed)


def test_an_invoice_read_from_the_api_and_its_stored_copy_have_one_fingerprint_that_its_amounts_change():
    import json

    from apps.invoiceninja.client import loads
    from apps.invoiceninja.reconcile import fingerprint

    text = json.dumps({**fixture("invoice.json"), "amount": 1e2, "balance": 150.50})
    from_api, stored = loads(text), json.loads(text)  # Decimals as received, floats as the JSON column gives back
    assert fingerprint(from_api) == fingerprint(stored)
    assert fingerprint({**stored, "balance": 150.51}) != fingerprint(stored)


def test_a_fingerprint_ignores_the_order_of_keys_and_the_embedded_client_and_invoices():
    # PostgreSQL's jsonb gives a stored copy back with its keys in another order; a webhook embeds the client.
    from apps.invoiceninja.reconcile import fingerprint

    payload = fixture("invoice.json")
    reordered = dict(reversed(list(payload.items())))
    embedded = {**payload, "client": fixture("client.json"), "invoices": [{"id": "Opnel5aKBz"}]}
    assert fingerprint(reordered) == fingerprint(payload) == fingerprint(embedded)


def test_a_fingerprint_refuses_what_json_cannot_hold_and_names_its_type():
    from apps.invoiceninja.reconcile import fingerprint

    with pytest.raises(TypeError) as refused:
        fingerprint({"id": "Opnel5aKBz", "tags": {"a"}})
    assert str(refused.value) == "set n'est pas du JSON"


@pytest.mark.parametrize("value", [None, 0, "", "soon"])
def test_a_missing_zero_or_unreadable_invoice_ninja_time_is_no_time(value):
    from apps.invoiceninja.reconcile import from_unix

    assert from_unix(value) is None
