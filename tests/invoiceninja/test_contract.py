"""Contract: every request the client makes, and every answer of the sandbox, against the vendor's OpenAPI spec.

The spec (spec@5.12.55, copied into tests/contracts/invoiceninja/openapi.yaml, see its SOURCE.md) is generated
from annotations and is wrong in a few places where the application code is authoritative (NOTES §16). Those
places are corrected in a copy, each with its reason, in `corrected_spec`; nothing else is relaxed.
"""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from apps.core.http import ApiError, session_for
from apps.invoiceninja import payloads
from apps.invoiceninja.client import InvoiceNinjaClient
from apps.invoiceninja.webhook_registration import register_webhooks
from tests.contracts import CONTRACTS

pytestmark = pytest.mark.django_db(transaction=True)

SPEC_PATH = CONTRACTS / "invoiceninja" / "openapi.yaml"
ITEM_OPERATIONS = [  # single-entity answers: the spec shows the bare entity, the code wraps it in "data"
    ("/api/v1/clients", "post"), ("/api/v1/clients/{id}", "get"), ("/api/v1/clients/{id}", "put"),
    ("/api/v1/quotes", "post"), ("/api/v1/quotes/{id}", "get"), ("/api/v1/quotes/{id}", "put"),
    ("/api/v1/invoices", "post"), ("/api/v1/invoices/{id}", "get"), ("/api/v1/invoices/{id}", "put"),
    ("/api/v1/payments", "post"), ("/api/v1/payments/{id}", "get"),
    ("/api/v1/webhooks/{id}", "get"), ("/api/v1/webhooks/{id}", "put"),
]


def load_spec() -> dict:
    import yaml

    cache = Path(settings.VAR_DIR) / "invoiceninja-openapi.pickle"
    if cache.exists() and cache.stat().st_mtime >= SPEC_PATH.stat().st_mtime:
        return pickle.loads(cache.read_bytes())
    spec = yaml.safe_load(SPEC_PATH.read_text())
    cache.write_bytes(pickle.dumps(spec))
    return spec


def content_schema(operation, status=200):
    return operation["responses"][status]["content"]["application/json"]


def corrected_spec(spec: dict, server_url: str) -> dict:
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    spec["servers"] = [{"url": server_url}]
    # PyYAML reads unquoted response codes as integers; OpenAPI tools expect strings.
    for item in spec["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"] = {str(k): v for k, v in operation["responses"].items()}
    spec["components"]["responses"] = {str(k): v for k, v in spec["components"]["responses"].items()}

    def response(path, method):
        return spec["paths"][path][method]["responses"]["200"].setdefault("content", {}).setdefault(
            "application/json", {})

    for path, method in ITEM_OPERATIONS:
        # BaseController::response always wraps items in {"data": …} (NOTES §3).
        body = response(path, method)
        body["schema"] = {"type": "object", "required": ["data"], "properties": {"data": body["schema"]}}
    # Bulk actions answer the list of entities, not one entity (QuoteController::bulk, NOTES §8).
    response("/api/v1/quotes/bulk", "post")["schema"] = {
        "type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Quote"}}}}
    response("/api/v1/invoices/bulk", "post")["schema"] = {
        "type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Invoice"}}}}
    # POST /emails answers the e-mailed entity (EmailController::send, NOTES §12), not a Template.
    response("/api/v1/emails", "post")["schema"] = {"type": "object", "required": ["data"],
                                                    "properties": {"data": {"type": "object"}}}
    # ClientTransformer casts country_id to a string; the spec says integer.
    schemas["Client"]["properties"]["country_id"] = {"type": "string"}
    # PaymentTransformer includes paymentables as a list; the spec shows one object.
    schemas["Payment"]["properties"]["paymentables"] = {"type": "array",
                                                        "items": {"$ref": "#/components/schemas/Paymentable"}}
    # StorePaymentRequest validates invoices.*.amount as numeric; the spec types it as a string.
    schemas["InvoicePaymentable"]["properties"]["amount"] = {"type": "number"}
    # Transformers send "" for unset dates (NOTES §3); the spec's format: date refuses "".
    for name in ("Quote", "Invoice"):
        for field in ("date", "due_date", "last_sent_date", "next_send_date", "partial_due_date"):
            schemas[name]["properties"][field].pop("format", None)
    return spec


@pytest.fixture
def exchanges(sandbox_connection):
    """Every (request, response) the client exchanges with the sandbox during the test."""
    captured = []
    session = session_for(sandbox_connection)

    def capture(response, *args, **kwargs):
        captured.append(response)

    session.hooks["response"].append(capture)
    yield captured
    session.hooks["response"].remove(capture)


def exercise_every_call(connection, quote):
    api = InvoiceNinjaClient(connection)
    api.ping()
    register_webhooks(connection)
    client = api.create_client(payloads.client_body(quote.company))
    api.list_page("clients", name=quote.company.name, per_page=10)
    current = api.get_client(client["id"])
    api.update_client(client["id"], payloads.client_body(quote.company, current["contacts"]))
    remote_quote = api.create_quote(payloads.quote_body(quote, client["id"]))
    api.update_quote(remote_quote["id"], payloads.quote_body(quote, client["id"]))
    api.list_page("quotes", client_id=client["id"], sort="id|desc", status=None, per_page=100)
    api.send_email("quote", remote_quote["id"], "email_template_quote")
    api.bulk("quotes", "approve", [remote_quote["id"]])
    converted = api.bulk("quotes", "convert_to_invoice", [remote_quote["id"]])
    invoice_id = converted[0]["invoice_id"]
    invoice = api.get_invoice(invoice_id)
    api.update_invoice(invoice_id, {"client_id": client["id"], "due_date": "2027-01-31"})
    api.send_email("invoice", invoice_id, "email_template_invoice")
    payment = api.create_payment({"client_id": client["id"], "idempotency_key": "contract-1",
                                  "invoices": [{"invoice_id": invoice_id, "amount": Decimal("100.00")}],
                                  "amount": Decimal("100.00")})
    api.get_payment(payment["id"])
    api.bulk("invoices", "mark_paid", [invoice_id])
    for entity in ("clients", "quotes", "invoices", "payments"):
        api.changed_since(entity, 0, page=1, per_page=50)
    api.download_pdf("invoice", invoice["invitations"][0]["key"])


def test_client_requests_and_sandbox_answers_follow_the_spec(sandbox_connection, exchanges, quote, no_pacing):
    from openapi_core import OpenAPI
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    spec = load_spec()
    openapi = OpenAPI.from_dict(corrected_spec(spec, sandbox_connection.base_url))
    exercise_every_call(sandbox_connection, quote)

    checked = set()
    for response in exchanges:
        request = RequestsOpenAPIRequest(response.request)
        openapi.validate_request(request)
        if response.headers.get("Content-Type", "").startswith("application/json"):
            openapi.validate_response(request, RequestsOpenAPIResponse(response))
        checked.add((response.request.method, response.request.path_url.split("?")[0].split("/api/v1/")[1]
                     .split("/")[0]))
    assert {entity for _, entity in checked} >= {"ping", "webhooks", "clients", "quotes", "invoices", "payments",
                                                 "emails", "invoice"}


def test_sandbox_error_answers_follow_the_spec(sandbox_connection, exchanges):
    from openapi_core import OpenAPI
    from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

    openapi = OpenAPI.from_dict(corrected_spec(load_spec(), sandbox_connection.base_url))
    api = InvoiceNinjaClient(sandbox_connection)
    with pytest.raises(ApiError):
        api.create_quote({"client_id": "unknown123", "date": "2026-01-01", "due_date": "2026-02-01"})  # 422
    sandbox_connection.secrets = {"api_token": "wrong-token-0000"}
    with pytest.raises(ApiError):
        InvoiceNinjaClient(sandbox_connection).list_page("clients")  # 403
    statuses = []
    for response in exchanges:
        request = RequestsOpenAPIRequest(response.request)
        openapi.validate_response(request, RequestsOpenAPIResponse(response))
        statuses.append(response.status_code)
    assert statuses == [422, 403]


def test_the_check_would_catch_a_request_outside_the_spec(db):
    """The validator really reads bodies and parameters: a quote without its required dates is refused."""
    import requests
    from openapi_core import OpenAPI
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    openapi = OpenAPI.from_dict(corrected_spec(load_spec(), "https://in.example.test"))
    headers = {"X-API-TOKEN": "t", "X-Requested-With": "XMLHttpRequest", "Content-Type": "application/json"}
    good = requests.Request("POST", "https://in.example.test/api/v1/quotes", headers=headers,
                            data=b'{"client_id": "VolejRejNm", "date": "2026-01-01", "due_date": "2026-02-01"}')
    openapi.validate_request(RequestsOpenAPIRequest(good.prepare()))
    bad = requests.Request("POST", "https://in.example.test/api/v1/quotes", headers=headers,
                           data=b'{"client_id": "VolejRejNm"}')
    with pytest.raises(Exception, match="due_date|date"):
        openapi.validate_request(RequestsOpenAPIRequest(bad.prepare()))
    wrong_parameter = requests.Request("GET", "https://in.example.test/api/v1/clients?per_page=many", headers=headers)
    with pytest.raises(Exception):
        openapi.validate_request(RequestsOpenAPIRequest(wrong_parameter.prepare()))
