"""Suppliers paid without an IBAN: UK account number + sort code (GBP), US account number + routing number (USD).

Checked before anything leaves the console, looked up before being created, sent in the shape
business.yaml gives for those corridors, accepted or refused by the emulator like Revolut.
"""

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.core import actions
from apps.core.actions import ActionFailed
from apps.core.http import ClientError
from apps.core.models import ActionRun
from apps.hub.models import Company, SupplierBill
from apps.revolut import counterparties, jobs
from apps.revolut.actions import PayBillViaRevolut
from apps.revolut.bank_details import validate_routing_number, validate_sort_code, validate_uk_account_no
from apps.revolut.client import RevolutClient, error_code
from apps.revolut.models import RevolutAccount, RevolutCounterparty, RevolutPayment
from apps.revolut.sandbox_models import SandboxCounterparty, SandboxTransaction
from apps.revolut.sync import CounterpartiesResource, store
from tests.revolut.conftest import API, user_with

pytestmark = pytest.mark.django_db

GBP_ACCOUNT_ID = "b7c2e3f0-5a1d-4c2e-9a8b-3c4d5e6f7a8b"
UK_COUNTERPARTY_ID = "5e1b7c9a-2d3f-4a6b-8c9d-0e1f2a3b4c5d"
UK_ACCOUNT_ID = "6f2c8d0b-3e4a-4b7c-9d0e-1f2a3b4c5d6e"


@pytest.fixture
def uk_supplier():
    return Company.objects.create(
        name="Thames Print Ltd", is_client=False, is_supplier=True, country_code="GB", currency="GBP",
        account_no="12345678", sort_code="54-01-05", address1="20 Upping St", city="London", postal_code="SW1A 2AB",
    )


@pytest.fixture
def us_supplier():
    return Company.objects.create(
        name="Hudson Paper Inc", is_client=False, is_supplier=True, country_code="US", currency="USD",
        account_no="000123456789", routing_number="021000021", address1="1 Main St", city="New York",
        region="NY", postal_code="10001",
    )


@pytest.fixture
def accountant():
    return user_with("comptable", "pay_suppliers")


def click(bill, user, key="click-1"):
    run, _ = actions.start(actions.get(PayBillViaRevolut.key), bill, user, key)
    if run.status == ActionRun.Status.RUNNING:
        actions.execute(run.pk)
    run.refresh_from_db()
    return run


# Checks ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("routing, message", [
    ("021000021", None),  # JPMorgan Chase, New York
    ("011000015", None),  # Federal Reserve Bank of Boston
    ("0210 00021", None),
    ("021000022", "clé de contrôle ABA"),
    ("02100002", "9 chiffres"),
    ("02100002A", "9 chiffres"),
])
def test_routing_numbers_are_checked_with_the_aba_checksum(routing, message):
    if message is None:
        assert validate_routing_number(routing) == routing.replace(" ", "")
    else:
        with pytest.raises(ValidationError, match=message):
            validate_routing_number(routing)


def test_uk_sort_codes_and_account_numbers_are_checked():
    assert validate_sort_code("54-01-05") == "540105"
    assert validate_uk_account_no("1234 5678") == "12345678"
    with pytest.raises(ValidationError, match="Sort code invalide"):
        validate_sort_code("54-01-0")
    with pytest.raises(ValidationError, match="Numéro de compte invalide : 8 chiffres"):
        validate_uk_account_no("1234567")


@pytest.mark.parametrize("changes, message", [
    ({"sort_code": "54-01"}, "Sort code invalide : 6 chiffres attendus"),
    ({"account_no": "123456789"}, "Numéro de compte invalide : 8 chiffres attendus pour un compte britannique"),
    ({"account_no": ""}, "Numéro de compte manquant"),
    ({"sort_code": ""}, "ni routing number"),
    ({"routing_number": "021000021"}, "pas les deux"),
    ({"account_no": "", "sort_code": ""}, "n'a ni IBAN ni coordonnées bancaires locales"),
])
def test_bad_local_details_are_refused_in_french_naming_the_field(uk_supplier, changes, message):
    for field, value in changes.items():
        setattr(uk_supplier, field, value)
    with pytest.raises(ValidationError, match=message):
        counterparties.details_of(uk_supplier)


def test_a_us_account_needs_the_supplier_address(us_supplier):
    us_supplier.address1 = ""
    with pytest.raises(ValidationError, match="Adresse du fournisseur Hudson Paper Inc incomplète"):
        counterparties.details_of(us_supplier)


def test_a_bad_sort_code_makes_the_pay_button_explain_and_nothing_is_sent(uk_supplier, revolut, accountant, api):
    RevolutAccount.objects.create(connection=revolut, external_id=GBP_ACCOUNT_ID, currency="GBP",
                                  balance=Decimal("4200"), state="active")
    uk_supplier.sort_code = "54-01-0X"
    uk_supplier.save()
    bill = SupplierBill.objects.create(supplier=uk_supplier, reference="TP-118", amount=Decimal("310.00"),
                                       currency="GBP")
    assert PayBillViaRevolut().unavailable_reason(bill, accountant) == \
        "Sort code invalide : 6 chiffres attendus (ex. 54-01-05)."
    with pytest.raises(ActionFailed, match="Sort code invalide"):
        PayBillViaRevolut().run(bill, ActionRun(user=accountant))
    assert len(api.calls) == 0


# Requests (vendor-shaped answers) --------------------------------------------------------------------------------
def uk_counterparty(account_no="12345678", sort_code="540105"):
    return {"id": UK_COUNTERPARTY_ID, "name": "Thames Print Ltd", "state": "created",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "accounts": [{"id": UK_ACCOUNT_ID, "type": "external", "bank_country": "GB", "currency": "GBP",
                          "account_no": account_no, "sort_code": sort_code}]}


def test_the_uk_counterparty_is_looked_up_by_account_and_sort_code_then_created(uk_supplier, revolut, api):
    api.get(f"{API}/counterparties", json=[])
    api.post(f"{API}/counterparty", json=uk_counterparty())
    record = counterparties.ensure_counterparty(revolut, uk_supplier, RevolutClient(revolut))

    lookup = parse_qs(urlsplit(api.calls[0].request.url).query)
    assert (lookup["account_no"], lookup["sort_code"]) == (["12345678"], ["540105"])
    assert json.loads(api.calls[1].request.body) == {
        "company_name": "Thames Print Ltd", "bank_country": "GB", "currency": "GBP",
        "account_no": "12345678", "sort_code": "540105",
        "address": {"street_line1": "20 Upping St", "city": "London", "postcode": "SW1A 2AB", "country": "GB"},
    }
    assert (record.company, record.payment_account_id) == (uk_supplier, UK_ACCOUNT_ID)
    assert (record.account_no, record.sort_code) == ("12345678", "540105")


def test_an_existing_uk_counterparty_is_reused_not_created_again(uk_supplier, revolut, api):
    api.get(f"{API}/counterparties", json=[uk_counterparty()])
    record = counterparties.ensure_counterparty(revolut, uk_supplier, RevolutClient(revolut))
    assert record.external_id == UK_COUNTERPARTY_ID and record.company == uk_supplier
    assert [call.request.method for call in api.calls] == ["GET"]


def test_the_us_counterparty_carries_the_routing_number_and_the_address(us_supplier, revolut, api):
    other_bank = {**uk_counterparty(), "accounts": [{"id": "x", "type": "external", "bank_country": "US",
                                                     "currency": "USD", "account_no": "000123456789",
                                                     "routing_number": "011000015"}]}
    api.get(f"{API}/counterparties", json=[other_bank])  # same account number at another bank: not ours
    api.post(f"{API}/counterparty", json={**uk_counterparty(), "accounts": [
        {"id": UK_ACCOUNT_ID, "type": "external", "bank_country": "US", "currency": "USD",
         "account_no": "000123456789", "routing_number": "021000021"}]})
    record = counterparties.ensure_counterparty(revolut, us_supplier, RevolutClient(revolut))
    assert parse_qs(urlsplit(api.calls[0].request.url).query) == {"limit": ["100"], "account_no": ["000123456789"]}
    assert json.loads(api.calls[1].request.body) == {
        "company_name": "Hudson Paper Inc", "bank_country": "US", "currency": "USD",
        "account_no": "000123456789", "routing_number": "021000021",
        "address": {"street_line1": "1 Main St", "region": "NY", "city": "New York", "postcode": "10001",
                    "country": "US"},
    }
    assert record.routing_number == "021000021" and record.payment_account_id == UK_ACCOUNT_ID


# The emulator ----------------------------------------------------------------------------------------------------
UK_BODY = {"company_name": "Thames Print Ltd", "bank_country": "GB", "currency": "GBP", "account_no": "12345678",
           "sort_code": "540105"}
US_BODY = {"company_name": "Hudson Paper Inc", "bank_country": "US", "currency": "USD",
           "account_no": "000123456789", "routing_number": "021000021",
           "address": {"street_line1": "1 Main St", "city": "New York", "postcode": "10001", "country": "US"}}


def test_the_emulator_accepts_uk_and_us_local_details_and_finds_them_again(emulated):
    client = RevolutClient(emulated)
    uk = client.create_counterparty(UK_BODY)
    us = client.create_counterparty(US_BODY)
    assert uk["accounts"][0] | {"id": None} == {"id": None, "name": "Thames Print Ltd", "bank_country": "GB",
                                                "currency": "GBP", "type": "external", "account_no": "12345678",
                                                "sort_code": "540105"}
    assert us["accounts"][0]["routing_number"] == "021000021" and us["accounts"][0]["address"]["postcode"] == "10001"
    assert [c["id"] for c in client.list_counterparties(account_no="12345678", sort_code="540105")] == [uk["id"]]
    assert client.list_counterparties(account_no="12345678", sort_code="400000") == []
    assert [c["id"] for c in client.list_counterparties(account_no="000123456789")] == [us["id"]]
    with pytest.raises(ClientError) as sort_code_alone:
        client.get("counterparties", params={"sort_code": "540105"})
    assert error_code(sort_code_alone.value) == 2101


@pytest.mark.parametrize("body", [
    {**UK_BODY, "sort_code": "54010"},
    {**UK_BODY, "account_no": "1234567"},
    {**UK_BODY, "currency": "EUR"},
    {key: value for key, value in UK_BODY.items() if key != "sort_code"},
    {**US_BODY, "routing_number": "021000022"},  # ABA checksum
    {key: value for key, value in US_BODY.items() if key != "address"},
    {**US_BODY, "address": {"city": "New York", "country": "US"}},  # postcode is required
])
def test_the_emulator_refuses_invalid_local_details_with_code_3000(emulated, body):
    with pytest.raises(ClientError) as refused:
        RevolutClient(emulated).create_counterparty(body)
    assert (refused.value.status, error_code(refused.value)) == (400, 3000)
    assert not SandboxCounterparty.objects.exists()


def test_a_gbp_bill_is_paid_to_a_uk_supplier_from_the_gbp_account(emulated, uk_supplier, accountant):
    from apps.hub.models import ExchangeRate

    jobs.refresh_connection_balances(emulated.pk)  # the accounts mirror (EUR and GBP)
    # 310 GBP is under the 1 000 EUR threshold once converted (without a rate it would wait for an approver).
    ExchangeRate.objects.create(currency="GBP", rate=Decimal("1.17"))
    bill = SupplierBill.objects.create(supplier=uk_supplier, reference="TP-118", amount=Decimal("310.00"),
                                       currency="GBP")
    details = dict(PayBillViaRevolut().confirmation_details(bill))
    assert details["Bénéficiaire"] == "Thames Print Ltd — 540105 •••• 5678 (bénéficiaire créé à l'envoi)"
    assert details["Compte débité"].startswith("Compte GBP")

    run = click(bill, accountant)
    assert run.status == ActionRun.Status.SUCCEEDED, run.message
    remote = SandboxCounterparty.objects.get()
    assert remote.accounts[0]["sort_code"] == "540105" and remote.accounts[0]["account_no"] == "12345678"
    tx = SandboxTransaction.objects.get()
    assert (tx.account.currency, tx.currency, tx.amount, tx.state) == ("GBP", "GBP", Decimal("-310.00"), "pending")
    assert tx.receiver_account_id == remote.accounts[0]["id"]

    RevolutClient(emulated).simulate_transaction(str(tx.id), "complete")
    jobs.fetch_transaction(emulated.pk, str(tx.id))
    bill.refresh_from_db()
    assert bill.status == SupplierBill.Status.PAID
    assert RevolutPayment.objects.get(bill=bill).state == "completed"

    # The next bill of the same supplier reuses its counterparty.
    second = SupplierBill.objects.create(supplier=uk_supplier, reference="TP-119", amount=Decimal("90.00"),
                                         currency="GBP")
    assert click(second, accountant, "click-2").status == ActionRun.Status.SUCCEEDED
    assert SandboxCounterparty.objects.count() == 1


def test_a_counterparty_synced_from_revolut_is_linked_to_the_supplier_by_local_details(emulated, uk_supplier):
    payload = RevolutClient(emulated).create_counterparty(UK_BODY)
    record = store(emulated, CounterpartiesResource, [payload])[0]
    assert record.company == uk_supplier
    assert RevolutCounterparty.objects.get(pk=record.pk).masked_bank_details == "540105 •••• 5678"


def test_the_company_admin_shows_the_local_bank_fields_in_the_bank_details_fieldset(admin_client, uk_supplier):
    page = admin_client.get(reverse("admin:hub_company_change", args=[uk_supplier.pk])).content.decode()
    bank_fieldset = page[page.index("Coordonnées bancaires"):]
    bank_fieldset = bank_fieldset[:bank_fieldset.index("</fieldset>")]
    for name in ("iban", "bic", "account_no", "sort_code", "routing_number"):
        assert f'name="{name}"' in bank_fieldset
    assert "Routing number ABA (États-Unis)" in bank_fieldset and "Sort code (Royaume-Uni)" in bank_fieldset



def test_bank_details_shared_with_another_name_get_a_counterparty_of_their_own(uk_supplier, revolut, api):
    factor = {**uk_counterparty(), "id": "7a7a7a7a-0000-4000-8000-000000000001", "name": "Albion Factoring Ltd"}
    api.get(f"{API}/counterparties", json=[factor])
    api.post(f"{API}/counterparty", json=uk_counterparty())

    record = counterparties.ensure_counterparty(revolut, uk_supplier, RevolutClient(revolut))

    assert json.loads(api.calls[1].request.body)["company_name"] == "Thames Print Ltd"
    assert (record.external_id, record.name, record.company) == (UK_COUNTERPARTY_ID, "Thames Print Ltd", uk_supplier)


def test_a_supplier_never_takes_over_the_counterparty_another_supplier_is_paid_through(uk_supplier, revolut, api):
    api.get(f"{API}/counterparties", json=[uk_counterparty()])
    first = counterparties.ensure_counterparty(revolut, uk_supplier, RevolutClient(revolut))
    namesake = Company.objects.create(name="Thames Print Ltd", is_client=False, is_supplier=True, country_code="GB",
                                      currency="GBP", account_no="12345678", sort_code="54-01-05")
    own = {**uk_counterparty(), "id": "7a7a7a7a-0000-4000-8000-000000000002",
           "accounts": [{**uk_counterparty()["accounts"][0], "id": "7a7a7a7a-0000-4000-8000-000000000003"}]}
    api.post(f"{API}/counterparty", json=own)

    second = counterparties.ensure_counterparty(revolut, namesake, RevolutClient(revolut))

    first.refresh_from_db()
    assert first.company == uk_supplier
    assert (second.external_id, second.company) == (own["id"], namesake)
