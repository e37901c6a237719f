"""Every request the client makes is one business.yaml describes: server, path, method, parameters, body.

The spec is the official OpenAPI file, copied into tests/contracts/revolut/business.yaml (see its SOURCE.md).
The token request is not in the spec: it is checked against the notes (form-encoded, assertion type, claims).
"""

import json
from decimal import Decimal
from urllib.parse import parse_qs

import jwt
import pytest

from apps.hub.models import Company
from apps.revolut import counterparties, oauth
from apps.revolut.client import RevolutClient
from tests.revolut.conftest import API, API_V2, COUNTERPARTY_ID, EUR_ACCOUNT_ID
from tests.contracts import CONTRACTS

SPEC = CONTRACTS / "revolut" / "business.yaml"
WEBHOOK_ID = "c6db947e-e9ce-41c2-b445-02e6eb741d21"
TX_ID = "630f9a62-e488-a9ce-a2d3-a30cccce03f0"


def without_prose_defaults(document: dict) -> dict:
    """Drop parameter defaults written as prose ("the date-time at which the request is made"): the
    validator would otherwise check that sentence as a date-time whenever the parameter is omitted."""
    for path_item in document["paths"].values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {}) if isinstance(parameter, dict) else {}
                if schema.get("format") == "date-time" and " " in str(schema.get("default", "")):
                    del schema["default"]
    return document


@pytest.fixture(scope="module")
def spec():
    import yaml
    from openapi_core import Config, OpenAPI
    from openapi_core.validation.request.validators import V30RequestValidator

    document = without_prose_defaults(yaml.safe_load(SPEC.read_text()))
    # The vendor file also trips the spec meta-validator on a few `uniqueItems` keywords: requests are still
    # checked against it (servers, paths, parameters, bodies); only the file's self-check is skipped.
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None,
                                                     request_validator_cls=V30RequestValidator))


def every_call(client: RevolutClient):
    client.list_accounts()
    client.get_account(EUR_ACCOUNT_ID)
    client.list_counterparties(created_before="2026-03-01T10:00:00Z", limit=100)
    client.list_counterparties(iban="FR7630006000011234567890189", bic="AGRIFRPP")
    client.get_counterparty(COUNTERPARTY_ID)
    client.create_counterparty({"company_name": "Imprimerie du Centre", "bank_country": "FR", "currency": "EUR",
                                "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP",
                                "address": {"street_line1": "8 bd de la République", "city": "Orléans",
                                            "postcode": "45000", "country": "FR"}})
    # Local details, built by the code that sends them (UK: account + sort code; US: account + routing + address).
    uk = counterparties.details_of(Company(name="Thames Print Ltd", account_no="12345678", sort_code="54-01-05",
                                           country_code="GB", city="London", postal_code="SW1A 2AB"))
    us = counterparties.details_of(Company(name="Hudson Paper Inc", account_no="000123456789",
                                           routing_number="021000021", address1="1 Main St", city="New York",
                                           region="NY", postal_code="10001", country_code="US"))
    client.list_counterparties(**uk.lookup())
    client.list_counterparties(**us.lookup())
    client.create_counterparty(uk.request_body("Thames Print Ltd"))
    client.create_counterparty(us.request_body("Hudson Paper Inc"))
    client.pay(request_id="7c1e4c8e-3b7b-4c65-9d1f-2f0a8c7d1b2e", account_id=EUR_ACCOUNT_ID,
               counterparty_id=COUNTERPARTY_ID, receiver_account_id="05e3a8f4-6bd7-4b2b-9f2c-0dd8a0f8a2a2",
               amount=Decimal("480.00"), currency="EUR", reference="IMP-2026-0412")
    client.list_transactions(from_="2026-03-01T00:00:00Z", to="2026-03-02T00:00:00Z", count=1000)
    client.list_transactions(from_="2026-03-01", request_id="7c1e4c8e-3b7b-4c65-9d1f-2f0a8c7d1b2e")
    client.get_transaction(TX_ID)
    client.create_webhook("https://console.example.fr/hooks/revolut/x/", ["TransactionCreated",
                                                                          "TransactionStateChanged"])
    client.list_webhooks()
    client.get_webhook(WEBHOOK_ID)
    client.rotate_webhook_secret(WEBHOOK_ID, "P1D")
    client.list_failed_webhook_events(WEBHOOK_ID)
    client.list_failed_webhook_events(WEBHOOK_ID, limit=100, created_before="2026-03-01T10:00:00.123456Z")
    client.delete_webhook(WEBHOOK_ID)
    client.simulate_transaction(TX_ID, "complete")
    client.sandbox_topup(account_id=EUR_ACCOUNT_ID, amount=Decimal("100"), currency="EUR", reference="Test")


@pytest.fixture
def recorded_requests(revolut, api):
    recorded = []

    def answer(request):
        recorded.append(request)
        if request.method == "DELETE":
            return 204, {}, ""
        created = request.method == "POST" and request.url == f"{API_V2}/webhooks"
        listed = request.method == "GET" and "/counterparties" in request.url
        return (201 if created else 200), {}, json.dumps([] if listed else {})

    import re

    for method in ("GET", "POST", "DELETE", "PATCH"):
        api.add_callback(method, re.compile(r"^https://sandbox-b2b\.revolut\.com/.*"), callback=answer)
    every_call(RevolutClient(revolut))
    return recorded


def test_every_client_request_validates_against_business_yaml(spec, recorded_requests):
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    assert len(recorded_requests) == 23
    problems = []
    for request in recorded_requests:
        try:
            spec.validate_request(RequestsOpenAPIRequest(request))
        except Exception as exc:  # noqa: BLE001 - collect them all for one readable failure
            problems.append(f"{request.method} {request.url}: {exc!r} {getattr(exc, '__cause__', '')!r}")
    assert problems == []


def test_webhook_management_goes_to_the_api_2_0_server(recorded_requests):
    webhook_urls = {r.url.split("?")[0] for r in recorded_requests if "/webhooks" in r.url}
    assert webhook_urls and all(url.startswith(API_V2) for url in webhook_urls)


def test_the_token_request_is_form_encoded_with_a_jwt_bearer_assertion(revolut, api, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.fr"
    api.post(f"{API}/auth/token", json={"access_token": "oa_sand_x", "refresh_token": "oa_sand_r",
                                        "token_type": "bearer", "expires_in": 2399})
    oauth.exchange_code(revolut, "oa_sand_code")
    request = api.calls[0].request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {key: values[0] for key, values in parse_qs(request.body).items()}
    assert set(form) == {"grant_type", "code", "client_assertion_type", "client_assertion"}
    assert (form["grant_type"], form["code"]) == ("authorization_code", "oa_sand_code")
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    claims = jwt.decode(form["client_assertion"], options={"verify_signature": False})
    assert set(claims) == {"iss", "sub", "aud", "exp"}
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("console.example.fr", "client-id-123",
                                                             "https://revolut.com")
