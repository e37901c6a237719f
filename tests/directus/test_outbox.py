"""The outbox: written with the hub change, sent newest-snapshot-first per item, retried with backoff."""

import json
from datetime import timedelta

import pytest
import responses
from django.db import transaction
from django.utils import timezone

from apps.core import signals
from apps.directus import push
from apps.directus.models import MirroredItem, OutboxEntry, StatusFacts
from apps.hub.models import Company, Contact, Invoice, Quote
from tests.directus.conftest import BASE

pytestmark = pytest.mark.django_db


@pytest.fixture
def company(connection):
    return Company.objects.create(name="Boulangerie Martin", email="bonjour@martin.example")


def entries(**filters):
    return list(OutboxEntry.objects.filter(**filters).values_list("collection", "item_id", "operation"))


def test_a_hub_change_writes_its_entries_in_the_same_transaction(company):
    quote = Quote.objects.create(company=company, title="Logo")
    assert ("quotes", f"quote-{quote.pk}", "upsert") in entries()
    assert ("integration_status", f"quote-{quote.pk}", "upsert") in entries()
    before = OutboxEntry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        quote.status = Quote.Status.SENT
        quote.save()
        assert OutboxEntry.objects.count() > before
        raise RuntimeError("the hub change fails")
    assert OutboxEntry.objects.count() == before


def test_no_directus_connection_no_entries(db):
    Company.objects.create(name="Sans miroir")
    assert not OutboxEntry.objects.exists()


def test_deleting_a_record_deletes_its_item_and_its_status(company):
    quote = Quote.objects.create(company=company, title="Logo")
    OutboxEntry.objects.all().delete()
    quote_id = quote.pk
    quote.delete()
    assert set(entries()) == {("quotes", f"quote-{quote_id}", "delete"),
                              ("integration_status", f"quote-{quote_id}", "delete")}


@responses.activate
def test_the_newest_snapshot_of_an_item_is_sent_once_and_older_ones_are_superseded(connection, company):
    OutboxEntry.objects.all().delete()
    contact = Contact.objects.create(company=company, first_name="Paul", email="paul@martin.example")
    contact.phone = "01"
    contact.save()
    contact.phone = "02"
    contact.save()
    responses.get(f"{BASE}/items/console_contacts", json={"data": []})
    responses.post(f"{BASE}/items/console_contacts", json={"data": [{"id": f"contact-{contact.pk}"}]})

    report = push.push_pending(connection)
    assert report.created == [f"console_contacts/contact-{contact.pk}"]
    sent = json.loads(responses.calls[1].request.body)
    assert len(sent) == 1 and sent[0]["phone"] == "02" and sent[0]["id"] == f"contact-{contact.pk}"
    assert sent[0]["console_version"]
    statuses = OutboxEntry.objects.filter(collection="contacts").values_list("status", flat=True)
    assert sorted(statuses) == ["sent", "superseded", "superseded"]


@responses.activate
def test_an_update_sends_only_what_changed_since_the_last_write(connection, company):
    MirroredItem.objects.create(connection=connection, collection="companies", item_id=f"company-{company.pk}",
                                payload={"name": "Boulangerie Martin", "email": "bonjour@martin.example",
                                         "is_client": True, "is_supplier": False, "phone": "", "vat_number": "",
                                         "address1": "", "postal_code": "", "city": "", "country_code": "FR",
                                         "currency": "EUR"})
    OutboxEntry.objects.all().delete()
    company.city = "Bordeaux"
    company.save()
    responses.get(f"{BASE}/items/console_companies", json={"data": [{"id": f"company-{company.pk}"}]})
    responses.patch(f"{BASE}/items/console_companies", json={"data": [{"id": f"company-{company.pk}"}]})
    push.push_pending(connection)
    body = json.loads(responses.calls[1].request.body)
    assert body == [{"id": f"company-{company.pk}", "city": "Bordeaux",
                     "console_version": body[0]["console_version"], "console_note": ""}]


@responses.activate
def test_a_failure_keeps_entries_pending_with_growing_delays(connection, company):
    responses.get(f"{BASE}/items/console_companies", status=503, json={"errors": [
        {"message": "Service is unavailable.", "extensions": {"code": "SERVICE_UNAVAILABLE"}}]})
    report = push.push_pending(connection)
    assert report.failed == [f"companies/company-{company.pk}"]
    entry = OutboxEntry.objects.get(collection="companies")
    assert entry.status == "pending" and entry.attempts == 1 and "indisponible" in entry.last_error
    assert entry.next_attempt_at > timezone.now()
    assert push.push_pending(connection).written == 0  # not due yet: nothing is called
    assert push.backoff(1) < push.backoff(2) < push.backoff(3) <= timedelta(seconds=push.BACKOFF_CAP_SECONDS)


@responses.activate
def test_a_batch_refused_as_a_whole_is_retried_item_by_item(connection):
    good = Company.objects.create(name="Bonne")
    bad = Company.objects.create(name="Mauvaise")
    responses.get(f"{BASE}/items/console_companies", json={"data": []})

    def create(request):
        items = json.loads(request.body)
        if any(item["name"] == "Mauvaise" for item in items):
            return 400, {}, json.dumps({"errors": [{"message": "Invalid payload.",
                                                    "extensions": {"code": "INVALID_PAYLOAD"}}]})
        return 200, {}, json.dumps({"data": [{"id": item["id"]} for item in items]})

    responses.add_callback(responses.POST, f"{BASE}/items/console_companies", callback=create)
    report = push.push_pending(connection)
    assert report.created == [f"console_companies/company-{good.pk}"]
    assert report.failed == [f"companies/company-{bad.pk}"]


def test_signature_and_reminder_reported_by_another_app_reach_the_integration_status(connection, company):
    quote = Quote.objects.create(company=company, title="Logo", status=Quote.Status.ACCEPTED)
    invoice = Invoice.objects.create(company=company, title="Logo", status=Invoice.Status.SENT)
    signals.integration_status_reported.send(sender="docuseal", record=quote, signature_state="signé")
    signals.integration_status_reported.send(sender="mautic", record=invoice, reminder_level=2)
    assert StatusFacts.objects.get(record_type="quote").signature_state == "signé"
    quote_status = OutboxEntry.objects.filter(collection="integration_status", item_id=f"quote-{quote.pk}").last()
    assert quote_status.payload["stage"] == "signé" and quote_status.payload["signature_state"] == "signé"
    invoice_status = OutboxEntry.objects.filter(collection="integration_status",
                                                item_id=f"invoice-{invoice.pk}").last()
    assert invoice_status.payload["reminder_level"] == 2
    assert invoice_status.payload["payment_state"] == "non payé"


def test_a_paid_invoice_makes_its_quote_read_paye(connection, company):
    quote = Quote.objects.create(company=company, title="Logo", status=Quote.Status.CONVERTED)
    invoice = Invoice.objects.create(company=company, quote=quote, title="Logo", status=Invoice.Status.SENT)
    latest = lambda: OutboxEntry.objects.filter(collection="integration_status",  # noqa: E731
                                                item_id=f"quote-{quote.pk}").last().payload
    assert latest()["stage"] == "facturé"
    invoice.status = Invoice.Status.PAID
    invoice.save()
    assert latest()["stage"] == "payé" and latest()["payment_state"] == "payé"


def test_sent_rows_are_purged_after_a_week_pending_ones_never(connection, company):
    from apps.directus.jobs import purge_sent

    OutboxEntry.objects.filter(collection="companies").update(status=OutboxEntry.Status.SENT,
                                                              sent_at=timezone.now() - timedelta(days=8))
    Company.objects.create(name="Encore à envoyer")
    OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING).update(created_at=timezone.now() - timedelta(days=30))
    assert purge_sent() == 1
    assert OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING).count() == 1


@responses.activate
def test_an_item_created_meanwhile_by_another_writer_is_updated_instead(connection, company):
    responses.get(f"{BASE}/items/console_companies", json={"data": []})  # not there when the keys were read
    responses.post(f"{BASE}/items/console_companies", status=400, json={"errors": [
        {"message": f'Value "company-{company.pk}" for field "id" in collection "console_companies" has to be '
                    "unique.", "extensions": {"code": "RECORD_NOT_UNIQUE"}}]})
    responses.patch(f"{BASE}/items/console_companies", json={"data": [{"id": f"company-{company.pk}"}]})
    report = push.push_pending(connection)
    assert report.updated == [f"console_companies/company-{company.pk}"] and not report.failed
    assert json.loads(responses.calls[2].request.body)[0]["name"] == "Boulangerie Martin"  # the full item


def test_only_one_pusher_at_a_time(connection, redis_connection):
    with push.push_lock(connection) as first:
        with push.push_lock(connection) as second:
            assert first and not second
    with push.push_lock(connection) as again:
        assert again
