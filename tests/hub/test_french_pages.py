"""French throughout: no raw keys nor Django's awkward defaults on the pages users meet."""

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from apps.core.models import ActionRun, Connection, WebhookEvent
from apps.hub.models import Company, Quote

pytestmark = pytest.mark.django_db


def test_lists_and_inlines_read_naturally(admin_client):
    company = Company.objects.create(name="Boulangerie Martin")
    quote = Quote.objects.create(company=company)

    listing = admin_client.get(reverse("admin:hub_quote_changelist")).content.decode()
    form = admin_client.get(reverse("admin:hub_quote_change", args=[quote.pk])).content.decode()
    home = admin_client.get(reverse("admin:index")).content.decode()

    assert "<h1>Devis</h1>" in listing and "Sélectionnez" not in listing
    assert "Ajouter un objet" not in form and "Ajouter : Ligne de devis" in form
    assert "Aucun(e) disponible" not in home


def test_the_timeline_shows_ids_in_words_and_no_internal_flags(admin_client):
    company = Company.objects.create(name="Boulangerie Martin")
    quote = Quote.objects.create(company=company, status=Quote.Status.CONVERTED)
    Connection.objects.create(provider="invoiceninja", name="Invoice Ninja", slug="in")
    ActionRun.objects.create(
        action="invoiceninja.convert_quote", label="Convertir en facture", status=ActionRun.Status.SUCCEEDED,
        content_type=ContentType.objects.get_for_model(Quote), object_id=str(quote.pk),
        user=User.objects.get(username="admin"), idempotency_key="k-words",
        external_ids={"invoiceninja_invoice_id": "Wpmbk5ezJn", "invoice_pk": 2, "emailed": True})

    page = admin_client.get(reverse("admin:hub_quote_change", args=[quote.pk])).content.decode()

    assert "Invoice Ninja · facture : Wpmbk5ezJn" in page
    assert "invoice_pk" not in page and "emailed" not in page and "invoiceninja_invoice_id" not in page


def test_a_duplicate_says_so_in_french(admin_client):
    assert str(WebhookEvent._meta.get_field("duplicate_of").verbose_name) == "doublon de"
    assert str(Connection(provider="invoiceninja", name="Invoice Ninja")) == "Invoice Ninja"


def test_a_record_page_carries_the_notice_shown_when_its_live_connection_drops(admin_client):
    """The notice is hidden until the socket closes (static/core/live-status.js shows it, hides it on reopen)."""
    quote = Quote.objects.create(company=Company.objects.create(name="Boulangerie Martin"))
    page = admin_client.get(reverse("admin:hub_quote_change", args=[quote.pk])).content.decode()
    assert ('<p class="console-live-lost" role="status" hidden>Mise à jour en direct interrompue — reconnexion…</p>'
            in page)
    assert "core/live-status.js" in page


def test_a_panel_label_takes_each_languages_colon(admin_client, settings):
    from apps.invoiceninja.models import QuoteLink

    quote = Quote.objects.create(company=Company.objects.create(name="Boulangerie Martin"))
    connection = Connection.objects.create(provider="invoiceninja", name="Invoice Ninja", slug="in")
    QuoteLink.objects.create(connection=connection, quote=quote, external_id="Wpmbk5ezJn", number="D-0042")
    url = reverse("admin:hub_quote_change", args=[quote.pk])

    french = admin_client.get(url).content.decode()
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = admin_client.get(url).content.decode()

    # French sets the colon off with a no-break space (it never wraps alone to the next line); English does not.
    assert "Numéro Invoice Ninja\u00a0:</strong> D-0042" in french
    assert "Invoice Ninja number:</strong> D-0042" in english
