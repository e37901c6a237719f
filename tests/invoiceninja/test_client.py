"""The Invoice Ninja client against vendor-shaped answers (responses): headers, money, errors, lists, pacing."""

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from apps.core.http import AuthenticationError, ClientError
from apps.invoiceninja.client import DuplicateRequest, InvoiceNinjaClient, ValidationFailed, dumps, loads
from tests.invoiceninja.conftest import API, fixture

pytestmark = pytest.mark.django_db


def query(call) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(call.request.url).query).items()}


@responses.activate
def test_every_call_sends_the_token_and_the_json_headers(connection):
    responses.get(f"{API}/quotes/Wpmbk5ezJn", json={"data": fixture("quote.json")})
    InvoiceNinjaClient(connection).get_quote("Wpmbk5ezJn")
    headers = responses.calls[0].request.headers
    assert headers["X-API-TOKEN"] == "tok-0123456789abcdef"
    assert headers["X-Requested-With"] == "XMLHttpRequest"
    assert headers["Accept"] == "application/json"


@responses.activate
def test_amounts_are_read_as_exact_decimals_and_status_ids_stay_strings(connection):
    responses.get(f"{API}/quotes/Wpmbk5ezJn", body=json.dumps({"data": fixture("quote.json")}))
    quote = InvoiceNinjaClient(connection).get_quote("Wpmbk5ezJn")
    assert quote["amount"] == Decimal("768.0")
    assert isinstance(quote["line_items"][0]["cost"], Decimal)
    assert quote["status_id"] == "2"


def test_decimals_are_written_as_json_numbers_with_their_own_digits():
    body = {"amount": Decimal("0.10") + Decimal("0.20"), "lines": [{"cost": Decimal("1234567.89")}], "n": "x"}
    text = dumps(body)
    assert text == '{"amount":0.30,"lines":[{"cost":1234567.89}],"n":"x"}'
    assert loads(text)["amount"] == Decimal("0.30")  # no binary float on the way


@responses.activate
def test_create_quote_posts_decimal_amounts_without_float_drift(connection):
    responses.post(f"{API}/quotes", json={"data": fixture("quote.json")})
    InvoiceNinjaClient(connection).create_quote(
        {"client_id": "VolejRejNm", "line_items": [{"cost": Decimal("0.1") * 3, "quantity": Decimal("1.000")}]}
    )
    sent = responses.calls[0].request.body.decode()
    assert '"cost":0.3,' in sent and '"quantity":1.000' in sent
    assert responses.calls[0].request.headers["Content-Type"] == "application/json"


@responses.activate
def test_a_bad_token_is_an_authentication_error_with_a_french_message(connection):
    responses.get(f"{API}/ping", status=403, json=fixture("error_403.json"))
    with pytest.raises(AuthenticationError) as exc:
        InvoiceNinjaClient(connection).ping()
    assert str(exc.value) == "Jeton API refusé par Invoice Ninja (Invalid token)."
    assert "tok-0123456789abcdef" not in str(exc.value)


@responses.activate
def test_an_unknown_id_is_the_vendors_400(connection):
    responses.get(f"{API}/quotes/nope000000", status=400, json=fixture("error_400_not_found.json"))
    with pytest.raises(ClientError) as exc:
        InvoiceNinjaClient(connection).get_quote("nope000000")
    assert exc.value.status == 400
    assert len(responses.calls) == 1  # a 4xx is never retried


@responses.activate
def test_validation_errors_are_exposed_field_by_field(connection):
    responses.post(f"{API}/clients", status=422, json=fixture("error_422.json"))
    with pytest.raises(ValidationFailed) as exc:
        InvoiceNinjaClient(connection).create_client({"name": "X"})
    assert exc.value.field_errors == {
        "number": ["The number has already been taken."],
        "contacts.0.email": ["The contacts.0.email must be a valid email address."],
    }
    assert "number : The number has already been taken." in str(exc.value)


@responses.activate
def test_lists_ask_for_active_rows_an_explicit_sort_and_a_page_size(connection):
    responses.get(f"{API}/clients", json={"data": [fixture("client.json")], "meta": {"pagination": {
        "total": 1, "count": 1, "per_page": 50, "current_page": 1, "total_pages": 1, "links": {}}}})
    page = InvoiceNinjaClient(connection).list_page("clients", per_page=50)
    assert query(responses.calls[0]) == {"per_page": "50", "page": "1", "sort": "id|asc", "status": "active"}
    assert page.is_last and page.items[0]["id"] == "VolejRejNm"


@responses.activate
def test_incremental_lists_filter_by_unix_updated_at_without_status(connection):
    responses.get(f"{API}/invoices", json={"data": [], "meta": {"pagination": {
        "total": 0, "count": 0, "per_page": 500, "current_page": 2, "total_pages": 1, "links": {}}}})
    InvoiceNinjaClient(connection).changed_since("invoices", 1767225600, page=2)
    assert query(responses.calls[0]) == {"per_page": "500", "page": "2", "sort": "updated_at|asc",
                                         "updated_at": "1767225600"}


@responses.activate
def test_identical_bulk_actions_are_spaced_by_more_than_a_second(connection, no_pacing, redis_connection):
    responses.post(f"{API}/invoices/bulk", json={"data": [fixture("invoice.json")]})
    client = InvoiceNinjaClient(connection)
    client.bulk("invoices", "email", ["Opnel5aKBz"])
    client.bulk("invoices", "email", ["Opnel5aKBz"])
    client.bulk("invoices", "mark_paid", ["Opnel5aKBz"])
    assert len(no_pacing) == 1 and 1.0 < no_pacing[0] <= 1.1  # only the second identical call waited
    assert json.loads(responses.calls[0].request.body) == {"action": "email", "ids": ["Opnel5aKBz"]}


@responses.activate
def test_same_amount_payments_for_one_client_are_spaced(connection, no_pacing, redis_connection):
    responses.post(f"{API}/payments", json={"data": fixture("payment_webhook.json")})
    client = InvoiceNinjaClient(connection)
    body = {"client_id": "VolejRejNm", "amount": Decimal("300.50"), "idempotency_key": "k1"}
    client.create_payment(body)
    client.create_payment({**body, "idempotency_key": "k2"})
    assert len(no_pacing) == 1


@responses.activate
def test_the_duplicate_guard_answer_is_recognised(connection, no_pacing, redis_connection):
    responses.post(f"{API}/invoices/bulk", status=400, json={"message": "Duplicate request"})
    with pytest.raises(DuplicateRequest):
        InvoiceNinjaClient(connection).bulk("invoices", "mark_paid", ["Opnel5aKBz"])


@responses.activate
def test_pdf_download_uses_the_invitation_key(connection):
    responses.get(f"{API}/quote/K4tFQVUAcXFdXaO4iQ3ZfaI1J3ZDxj0a/download", body=b"%PDF-1.4 ...",
                  content_type="application/pdf")
    assert InvoiceNinjaClient(connection).download_pdf("quote", "K4tFQVUAcXFdXaO4iQ3ZfaI1J3ZDxj0a").startswith(b"%PDF")
