"""Timeline entries read in the reader's language, whatever language was active when they were written."""

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_noop

from apps.core.models import TimelineEntry
from apps.hub.models import Company, Invoice, Quote

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent_quote():
    company = Company.objects.create(name="Boulangerie Martin")
    quote = Quote.objects.create(company=company, title="Enseigne", status=Quote.Status.SENT)
    quote.lines.create(description="Logo", quantity=1, unit_price=950)
    return quote


def superuser(username, first_name):
    return User.objects.create_superuser(username, f"{username}@example.com", "x", first_name=first_name)


def timeline_of(client, record) -> str:
    page = client.get(reverse(f"admin:hub_{record._meta.model_name}_change", args=[record.pk]))
    assert page.status_code == 200
    return page.content.decode().split('class="module console-timeline"', 1)[1].split("</section>", 1)[0]


def test_an_entry_written_during_a_french_request_reads_in_english_for_an_english_user(client, sent_quote):
    client.force_login(superuser("alice", "Alice"))
    client.post(reverse("admin:hub_quote_new_version", args=[sent_quote.pk]))  # no language cookie: French
    assert "Nouvelle version ouverte par Alice" in timeline_of(client, sent_quote)

    client.force_login(superuser("bob", "Bob"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    timeline = timeline_of(client, sent_quote)

    assert "New version opened by Alice: the lines can be edited until the next send." in timeline
    assert "Nouvelle version ouverte" not in timeline


def test_a_status_given_as_a_label_follows_the_reader_too():
    invoice = Invoice.objects.create(company=Company.objects.create(name="Boulangerie Martin"))
    with translation.override("fr"):
        entry = TimelineEntry.record(invoice, gettext_noop("Invoice Ninja : statut « %(status)s »."),
                                     params={"status": Invoice.Status.PAID.label})
    entry = TimelineEntry.objects.get(pk=entry.pk)

    with translation.override("en"):
        assert entry.text == "Invoice Ninja: status “Paid”."
    with translation.override("fr"):
        assert entry.text == "Invoice Ninja : statut « Payée »."


def test_an_entry_stored_as_text_before_stays_readable(client, sent_quote):
    TimelineEntry.record(sent_quote, "Devis signé par le client (ancienne entrée).")
    client.force_login(superuser("bob", "Bob"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    assert "Devis signé par le client (ancienne entrée)." in timeline_of(client, sent_quote)


def test_an_amount_reads_in_the_readers_number_format():
    invoice = Invoice.objects.create(company=Company.objects.create(name="Boulangerie Martin"))
    with translation.override("fr"):
        entry = TimelineEntry.record(invoice, gettext_noop("Facture « %(status)s » (payé : %(paid)s)."),
                                     params={"status": Invoice.Status.PAID.label,
                                             "paid": TimelineEntry.money("1200.40", "EUR")})
    assert entry.message == "Facture « Payée » (payé : 1\u202f200,40\u00a0€)."
    entry = TimelineEntry.objects.get(pk=entry.pk)

    with translation.override("en"):
        assert entry.text == "Invoice “Paid” (paid: €1,200.40)."
