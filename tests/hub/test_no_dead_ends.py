"""No dead ends: the root, error pages in the console's shell, linked documents, a favicon."""

from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from apps.core import actions
from apps.hub.models import Company, Invoice, Quote

pytestmark = pytest.mark.django_db


def test_the_root_leads_to_the_console_home(admin_client):
    response = admin_client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_a_missing_page_is_a_french_page_in_the_shell(admin_client):
    response = admin_client.get("/nothing-here/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "Page introuvable" in page and "Retour à l'accueil de la console" in page
    assert "Hypervisual Console" in page


def test_a_refused_page_says_why_and_where_to_go(client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("visiteur", is_staff=True))
    response = client.get(reverse("admin:hub_quote_changelist"))
    page = response.content.decode()
    assert response.status_code == 403
    assert "Accès refusé" in page and "demandez à un administrateur" in page
    assert "Retour à l'accueil de la console" in page


def test_the_server_error_page_needs_no_request_nor_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        page = render_to_string("500.html")
    assert "Erreur du serveur" in page and 'href="/admin/"' in page


def test_the_favicon_exists():
    from django.contrib.staticfiles import finders

    response = Client().get("/favicon.ico")  # browsers ask for it before any login
    assert response.status_code == 301 and response["Location"].endswith("/console/favicon.svg")
    with open(finders.find("console/favicon.svg"), encoding="utf-8") as icon:
        assert icon.read().startswith("<svg")


def test_a_converted_quote_and_its_invoice_link_to_each_other(admin_client):
    company = Company.objects.create(name="Boulangerie Martin")
    quote = Quote.objects.create(company=company, number="DEV-1", status=Quote.Status.CONVERTED)
    invoice = Invoice.objects.create(company=company, number="FAC-1", quote=quote)

    quote_page = admin_client.get(reverse("admin:hub_quote_change", args=[quote.pk])).content.decode()
    invoice_page = admin_client.get(reverse("admin:hub_invoice_change", args=[invoice.pk])).content.decode()

    assert f'href="{invoice.get_absolute_url()}">FAC-1</a>' in quote_page
    assert f'href="{quote.get_absolute_url()}">DEV-1</a>' in invoice_page


def test_converting_a_quote_asks_for_confirmation():
    convert = actions.get("invoiceninja.convert_quote")
    assert convert.confirm
    quote = Quote(company=Company(name="Boulangerie Martin"), total=Decimal("1200.40"))
    assert ("Total TTC", "1\u202f200,40\xa0€") in convert.confirmation_details(quote)


def test_with_debug_on_a_missing_page_is_still_the_console_page_not_the_url_list(admin_client, settings):
    settings.DEBUG = True  # the demo (`make run`) runs with DEBUG on
    response = admin_client.get("/admin/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "Page introuvable" in page and "Django tried these URL patterns" not in page
    assert "Retour à l'accueil de la console" in page
