"""The Directus client and the connection test, with `responses` shaped like the vendor (NOTES §1–§3)."""

import json
from io import StringIO

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core.connection_check import check_connection
from apps.core.models import ApiCall, Connection
from apps.directus import schema
from apps.directus.client import DirectusClient, ItemMissingOrForbidden
from tests.directus.conftest import BASE, TOKEN

pytestmark = pytest.mark.django_db

FORBIDDEN = {"errors": [{"message": "You don't have permission to access this.",
                         "extensions": {"code": "FORBIDDEN"}}]}


def oas(paths: dict) -> dict:
    return {"openapi": "3.0.1", "info": {"title": "Dynamic API Specification", "version": "a1b2"}, "paths": paths}


@responses.activate
def test_static_token_goes_in_a_bearer_header_never_in_the_url(connection):
    responses.get(f"{BASE}/users/me", json={"data": {"id": "u1", "email": "console@example.test"}})
    assert DirectusClient(connection).me()["email"] == "console@example.test"
    request = responses.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "access_token" not in request.url
    assert TOKEN not in ApiCall.objects.get().url


@responses.activate
def test_a_403_on_an_item_read_says_missing_or_not_permitted_in_french(connection):
    responses.get(f"{BASE}/items/console_quotes/quote-9", json=FORBIDDEN, status=403)
    with pytest.raises(ItemMissingOrForbidden) as raised:
        DirectusClient(connection).get_item("console_quotes", "quote-9")
    message = str(raised.value)
    assert "absent" in message and "non autorisé" in message and "quote-9" in message


@responses.activate
def test_error_envelope_becomes_a_readable_message(connection):
    responses.get(f"{BASE}/users/me", status=401, json={"errors": [
        {"message": "Invalid user credentials.", "extensions": {"code": "INVALID_CREDENTIALS"}}]})
    with pytest.raises(Exception) as raised:
        DirectusClient(connection).me()
    assert str(raised.value) == "Jeton Directus refusé (identifiants invalides)."


@responses.activate
def test_list_items_sends_filter_as_json_and_reads_meta(connection):
    responses.get(f"{BASE}/items/console_contacts", json={"data": [{"id": "contact-1"}], "meta": {"filter_count": 1}})
    page = DirectusClient(connection).list_items("console_contacts", filter={"id": {"_in": ["contact-1"]}},
                                                 fields=["id"], limit=-1, count=True)
    assert page.items == [{"id": "contact-1"}] and page.total == 1
    params = responses.calls[0].request.params
    assert json.loads(params["filter"]) == {"id": {"_in": ["contact-1"]}}
    assert params["limit"] == "-1" and params["fields"] == "id" and params["meta"] == "filter_count"


@responses.activate
def test_connection_test_pings_reads_me_and_lists_what_the_token_may_read_and_write(connection):
    name = lambda key: schema.collection_name(connection, key)  # noqa: E731
    paths = {f"/items/{name(key)}": {"get": {}, "post": {}, "patch": {}} for key in schema.COLLECTIONS}
    paths[f"/items/{name('payments')}"] = {"get": {}}
    del paths[f"/items/{name('supplier_bills')}"]
    responses.get(f"{BASE}/server/ping", body="pong")
    responses.get(f"{BASE}/users/me", json={"data": {"id": "u1", "email": "console@example.test"}})
    responses.get(f"{BASE}/server/specs/oas", json=oas(paths))

    result = check_connection(connection)
    assert result.ok, result.message
    assert "console@example.test" in result.message
    assert "lecture et écriture : console_companies, console_contacts" in result.message
    assert "lecture seule : console_payments" in result.message
    assert "absentes ou non autorisées : console_supplier_bills" in result.message
    assert "manage.py directus bootstrap directus" in result.message
    assert [call.request.path_url.split("?")[0] for call in responses.calls] == [
        "/server/ping", "/users/me", "/server/specs/oas"]


@responses.activate
def test_connection_add_then_test_from_the_command_line(db, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.test"
    out = StringIO()
    call_command("connection", "add", "directus", "--name", "Directus prod", "--base-url", BASE,
                 "--webhook-secret", "whsec-0123456789abcdef", stdout=out)
    connection = Connection.objects.get(provider="directus")
    assert "Secrets non renseignés : token" in out.getvalue()
    assert f"/hooks/directus/{connection.webhook_endpoint_id}/" in out.getvalue()

    responses.get(f"{BASE}/server/ping", body="pong")
    responses.get(f"{BASE}/users/me", status=401, json={"errors": [
        {"message": "Invalid user credentials.", "extensions": {"code": "INVALID_CREDENTIALS"}}]})
    with pytest.raises(CommandError, match="Jeton Directus refusé"):
        call_command("connection", "test", connection.slug, stdout=StringIO())
    connection.refresh_from_db()
    assert connection.consecutive_failures == 1
