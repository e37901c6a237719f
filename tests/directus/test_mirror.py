"""The mirror end to end against the Directus sandbox: console -> Directus pushes, Directus -> console edits
through the Flow and the polling, the conflict rule, outages and loops."""

import pytest
from django.utils import translation

from apps.core.models import TimelineEntry, WebhookEvent
from apps.directus import push
from apps.directus.models import OutboxEntry
from apps.directus.sandbox.state import SandboxDirectusProject
from apps.hub.models import Company, Contact, Quote
from tests.directus.conftest import run_jobs, settle

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client_company(directus):
    company = Company.objects.create(name="Atelier Lumière SARL", email="contact@atelier.example", city="Lyon")
    contact = Contact.objects.create(company=company, first_name="Claire", last_name="Moreau",
                                     email="claire@atelier.example", is_primary=True)
    quote = Quote.objects.create(company=company, title="Refonte du site")
    quote.lines.create(position=0, description="Maquettes", quantity=1, unit_price="1800.00")
    quote.recalculate_totals()
    settle()
    return company, contact, quote


def test_a_quote_sent_in_the_console_reads_envoye_in_directus_after_one_push(directus, client_company):
    _company, _contact, quote = client_company
    assert directus.item("integration_status", f"quote-{quote.pk}")["stage"] == "brouillon"

    quote.status = Quote.Status.SENT
    quote.save()
    run_jobs("sync")  # the one push the commit enqueued

    status = directus.item("integration_status", f"quote-{quote.pk}")
    assert status["stage"] == "envoyé"
    assert status["amount_due"] == "0.00"
    mirrored = directus.item("quotes", f"quote-{quote.pk}")
    assert mirrored["status"] == "sent"
    assert mirrored["total"] == "2160.00"


def test_a_client_email_edited_in_directus_reaches_the_hub_contact_without_a_loop(directus, client_company):
    _company, contact, _quote = client_company
    answer = directus.as_admin("PATCH", f"items/{directus.name('contacts')}/contact-{contact.pk}",
                               json={"email": "claire.moreau@nouveau.example"})
    assert answer.status_code == 200, answer.text

    rounds = settle()
    contact.refresh_from_db()
    assert contact.email == "claire.moreau@nouveau.example"
    assert TimelineEntry.objects.filter(object_id=str(contact.pk), message__contains="Modifié dans Directus").exists()
    # The console wrote the contact back once (new version); that write came back through the Flow and was ignored.
    assert rounds <= 4
    item = directus.item("contacts", f"contact-{contact.pk}")
    assert item["email"] == "claire.moreau@nouveau.example"
    assert not item["console_note"]
    flow_runs = len(SandboxDirectusProject.objects.get().flow_log)
    settle()
    assert len(SandboxDirectusProject.objects.get().flow_log) == flow_runs
    assert not OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING).exists()
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() >= 2


def test_a_console_owned_field_edited_in_directus_is_restored_with_a_note(directus, client_company):
    _company, _contact, quote = client_company
    directus.as_admin("PATCH", f"items/{directus.name('quotes')}/quote-{quote.pk}", json={"total": "1.00"})
    settle()

    item = directus.item("quotes", f"quote-{quote.pk}")
    assert item["total"] == "2160.00"
    assert "total" in item["console_note"] and "refusée" in item["console_note"]
    quote.refresh_from_db()
    assert quote.total == 2160
    refused = TimelineEntry.objects.get(object_id=str(quote.pk), level="warning",
                                        message__contains="géré par la console")
    with translation.override("en"):
        assert refused.text.startswith("Directus: change refused (total (") and "restored" in refused.text


def test_a_sent_quote_marked_accepted_in_directus_is_accepted_in_the_hub(directus, client_company):
    _company, _contact, quote = client_company
    quote.status = Quote.Status.SENT
    quote.save()
    settle()
    directus.as_admin("PATCH", f"items/{directus.name('quotes')}/quote-{quote.pk}", json={"status": "accepted"})
    settle()
    quote.refresh_from_db()
    assert quote.status == Quote.Status.ACCEPTED
    assert directus.item("integration_status", f"quote-{quote.pk}")["stage"] == "accepté"


def test_a_draft_quote_cannot_be_accepted_from_directus(directus, client_company):
    _company, _contact, quote = client_company
    directus.as_admin("PATCH", f"items/{directus.name('quotes')}/quote-{quote.pk}", json={"status": "accepted"})
    settle()
    quote.refresh_from_db()
    assert quote.status == Quote.Status.DRAFT
    item = directus.item("quotes", f"quote-{quote.pk}")
    assert item["status"] == "draft"
    assert "statut" in item["console_note"]


def test_directus_down_for_a_while_loses_nothing_and_keeps_the_order(directus, client_company):
    company, contact, quote = client_company
    SandboxDirectusProject.objects.update(is_down=True)
    quote.status = Quote.Status.SENT
    quote.save()
    company.city = "Villeurbanne"
    company.save()
    contact.phone = "+33 4 00 00 00 01"
    contact.save()
    contact.phone = "+33 4 00 00 00 02"  # a second change of the same record while Directus is down
    contact.save()
    run_jobs("sync")
    pending = OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING)
    assert pending.count() >= 5
    assert all(entry.attempts >= 1 and entry.last_error for entry in pending.filter(attempts__gt=0))
    assert pending.filter(attempts__gt=0).exists()

    SandboxDirectusProject.objects.update(is_down=False)
    OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING).update(next_attempt_at="2000-01-01T00:00:00Z")
    report = push.push_all_due(directus.connection)
    assert not report.failed
    settle()
    assert not OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING).exists()
    assert directus.item("integration_status", f"quote-{quote.pk}")["stage"] == "envoyé"
    assert directus.item("companies", f"company-{company.pk}")["city"] == "Villeurbanne"
    assert directus.item("contacts", f"contact-{contact.pk}")["phone"] == "+33 4 00 00 00 02"


def test_polling_catches_an_edit_the_flow_never_sent(directus, client_company):
    _company, contact, _quote = client_company
    SandboxDirectusProject.objects.update(flow_url="")  # a Flow that failed silently
    directus.as_admin("PATCH", f"items/{directus.name('contacts')}/contact-{contact.pk}",
                      json={"phone": "+33 6 12 34 56 78"})
    from apps.core.sync import sync_all

    sync_all(provider_key="directus")
    run_jobs("sync")
    contact.refresh_from_db()
    assert contact.phone == "+33 6 12 34 56 78"


def test_an_item_deleted_in_directus_is_written_again(directus, client_company):
    company, _contact, _quote = client_company
    answer = directus.as_admin("DELETE", f"items/{directus.name('companies')}/company-{company.pk}")
    assert answer.status_code == 204
    settle()
    item = directus.item("companies", f"company-{company.pk}")
    assert item["name"] == "Atelier Lumière SARL"
    assert "supprimé dans Directus" in item["console_note"]
    restored = TimelineEntry.objects.get(object_id=str(company.pk), level="warning", provider="directus")
    assert restored.message == "Directus : élément supprimé dans Directus, rétabli par la console."
    with translation.override("en"):
        assert restored.text == "Directus: item deleted in Directus, restored by the console."
