"""The search box of the console header: one box, records found by name, number or a system's id, by kind."""

from decimal import Decimal

import pytest
from django.urls import reverse

from apps.core.models import Connection
from apps.hub.models import Company, Contact, Invoice, Payment, Quote, SupplierBill
from apps.invoiceninja.models import InvoiceLink
from tests.core.action_doubles import make_user

pytestmark = pytest.mark.django_db
SEARCH = "/hub/recherche/"


@pytest.fixture
def records():
    martin = Company.objects.create(name="Boulangerie Martin", is_client=True)
    Contact.objects.create(company=martin, first_name="Claire", last_name="Martin", email="claire@martin.example")
    quote = Quote.objects.create(company=martin, number="DEV-2031", title="Pain de mie")
    invoice = Invoice.objects.create(company=martin, number="FA-2031", status=Invoice.Status.SENT,
                                     total=Decimal("1200.40"))
    durand = Company.objects.create(name="Imprimerie Durand", is_client=False, is_supplier=True)
    bill = SupplierBill.objects.create(supplier=durand, reference="FAC-DURAND-2031", amount=Decimal("99.00"))
    payment = Payment.objects.create(direction=Payment.Direction.OUTGOING, supplier_bill=bill, amount=Decimal("99"),
                                     source="revolut", external_id="tx-2031-abc")
    return {"martin": martin, "quote": quote, "invoice": invoice, "bill": bill, "payment": payment}


def test_the_header_of_every_page_has_the_search_box(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert f'action="{SEARCH}"' in page and 'role="search"' in page
    assert 'aria-label="Rechercher une société, un contact, un devis, une facture ou un paiement"' in page


def test_a_number_finds_every_kind_that_carries_it_grouped_by_kind(admin_client, records):
    page = admin_client.get(SEARCH, {"q": "2031"})
    assert page.status_code == 200
    groups = {group["title"]: [hit["label"] for hit in group["hits"]] for group in page.context["groups"]}
    assert groups == {
        "Devis": ["DEV-2031"],
        "Factures": ["FA-2031"],
        "Factures fournisseurs": ["FAC-DURAND-2031 — Imprimerie Durand"],
        "Paiements": ["99,00\xa0€ (Décaissement)"],
    }
    html = page.content.decode()
    assert 'name="q" value="2031"' in html  # the header box keeps what was typed
    assert records["invoice"].get_absolute_url() in html and records["bill"].get_absolute_url() in html


def test_a_name_finds_the_company_and_its_contact(admin_client, records):
    page = admin_client.get(SEARCH, {"q": "martin"})
    groups = {group["title"]: [hit["label"] for hit in group["hits"]] for group in page.context["groups"]}
    assert groups["Sociétés"] == ["Boulangerie Martin"] and groups["Contacts"] == ["Claire Martin"]
    assert reverse("admin:hub_company_change", args=[records["martin"].pk]) in page.content.decode()


def test_a_systems_id_finds_its_record(admin_client, records):
    connection = Connection.objects.create(provider="invoiceninja", name="Facturation", slug="facturation")
    InvoiceLink.objects.create(connection=connection, invoice=records["invoice"], external_id="VolejRejNm",
                               number="IN-0042")
    for term in ("VolejRejNm", "IN-0042"):
        groups = {group["title"]: [hit["label"] for hit in group["hits"]]
                  for group in admin_client.get(SEARCH, {"q": term}).context["groups"]}
        assert groups == {"Factures": ["FA-2031"]}, term
    payment = {group["title"]: [hit["label"] for hit in group["hits"]]
               for group in admin_client.get(SEARCH, {"q": "tx-2031-abc"}).context["groups"]}
    assert list(payment) == ["Paiements"]


def test_each_kind_is_searched_only_for_people_who_may_see_it(client, records):
    client.force_login(make_user("fournisseurs", "pay_suppliers"))  # companies and supplier bills only
    titles = [group["title"] for group in client.get(SEARCH, {"q": "2031"}).context["groups"]]
    assert titles == ["Factures fournisseurs"]
    page = client.get(SEARCH, {"q": "Martin"}).content.decode()
    assert "Claire" not in page and "Boulangerie Martin" in page


def test_a_too_short_or_empty_query_says_what_to_type(admin_client, records):
    for query in ("", " ", "a"):
        page = admin_client.get(SEARCH, {"q": query})
        assert page.status_code == 200 and page.context["groups"] == []
        assert "Tapez au moins 2 caractères" in page.content.decode()
    nothing = admin_client.get(SEARCH, {"q": "zzzz-introuvable"}).content.decode()
    assert "Aucun résultat pour « zzzz-introuvable »" in nothing


def test_people_outside_the_team_cannot_search(client, records):
    client.force_login(make_user("dehors", "view_console", is_staff=False))
    assert client.get(SEARCH, {"q": "2031"}).status_code in (302, 403)
