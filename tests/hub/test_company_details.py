"""Bank details and company identifiers are refused on the company form, where they are typed."""

import pytest
from django.urls import reverse

from apps.hub.models import Company
from tests.hub.forms_in_tests import inline_management, opened_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def supplier():
    return Company.objects.create(name="Imprimerie du Centre", is_client=False, is_supplier=True)


def company_form(supplier, **fields):
    return {"name": supplier.name, "is_supplier": "on", "email": "", "phone": "", "vat_number": "",
            "registration_number": "", "address1": "", "postal_code": "", "city": "", "region": "",
            "country_code": "FR", "currency": "EUR", "iban": "", "bic": "", "account_no": "", "sort_code": "",
            "routing_number": "", **inline_management("contacts"), **fields}


def save(client, supplier, **fields):
    url = reverse("admin:hub_company_change", args=[supplier.pk])
    return client.post(url, company_form(supplier, **fields, **opened_form(client, supplier)))


@pytest.mark.parametrize("fields, message", [
    ({"iban": "FR76 3000 6000 0112 3456 7890 188"}, "la clé de contrôle ne correspond pas"),
    ({"iban": "BR19 0036 0305 0000 1000 9795 493C 1"}, "la clé de contrôle ne correspond pas"),  # beyond the old table
    ({"bic": "AGRIXXPP"}, "le pays XX n&#x27;existe pas"),
    ({"account_no": "31926819", "sort_code": "54-01-0"}, "Sort code invalide"),
    ({"account_no": "123456789", "routing_number": "021000022"}, "clé de contrôle ABA"),
    ({"registration_number": "732 829 321"}, "SIREN ou SIRET invalide"),
    ({"vat_number": "FR45732829320"}, "N° TVA invalide"),
])
def test_wrong_details_are_refused_with_a_french_sentence(admin_client, supplier, fields, message):
    response = save(admin_client, supplier, **fields)
    assert response.status_code == 200
    assert message in response.content.decode()
    supplier.refresh_from_db()
    assert all(getattr(supplier, name) == "" for name in fields)


def test_right_details_are_saved_in_their_compact_form(admin_client, supplier):
    response = save(admin_client, supplier, iban="fr76 3000 6000 0112 3456 7890 189", bic="bnpa frpp",
                    registration_number="732 829 320 00074", vat_number="FR 44 732829320")
    assert response.status_code == 302
    supplier.refresh_from_db()
    assert (supplier.iban, supplier.bic, supplier.registration_number, supplier.vat_number) == (
        "FR7630006000011234567890189", "BNPAFRPP", "73282932000074", "FR44732829320")


def test_uk_and_us_local_details_are_checked_on_the_form(admin_client, supplier):
    assert save(admin_client, supplier, account_no="31926819", sort_code="54-01-05",
                country_code="GB", currency="GBP").status_code == 302
    assert save(admin_client, supplier, account_no="12345678901", routing_number="021000021", sort_code="",
                country_code="US", currency="USD", region="NY").status_code == 302
