import pytest
import requests
import responses

from apps.core.http import ApiClient, ClientError, NetworkError, ServerError, redact_url
from apps.core.models import ApiCall, Connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection():
    return Connection.objects.create(provider="test", name="Test", slug="test", base_url="https://api.example.test")


@responses.activate
def test_retries_server_errors_on_get_then_succeeds(connection):
    responses.get("https://api.example.test/items", status=502)
    responses.get("https://api.example.test/items", json={"ok": True})
    response = ApiClient(connection).get("items")
    assert response.json() == {"ok": True}
    assert list(ApiCall.objects.order_by("id").values_list("status_code", "attempt")) == [(502, 1), (200, 2)]


@responses.activate
def test_never_retries_a_client_error(connection):
    responses.get("https://api.example.test/items", status=422, json={"message": "Champ requis"})
    with pytest.raises(ClientError) as exc:
        ApiClient(connection).get("items")
    assert str(exc.value) == "Champ requis"
    assert ApiCall.objects.count() == 1


@responses.activate
def test_post_is_not_retried_after_a_server_error(connection):
    responses.post("https://api.example.test/pay", status=500)
    with pytest.raises(ServerError) as exc:
        ApiClient(connection).post("pay", json={"amount": 1})
    assert exc.value.maybe_sent
    assert ApiCall.objects.count() == 1


@responses.activate
def test_post_read_timeout_is_reported_as_maybe_sent_and_not_retried(connection):
    responses.post("https://api.example.test/pay", body=requests.ReadTimeout("slow"))
    with pytest.raises(NetworkError) as exc:
        ApiClient(connection).post("pay", json={"amount": 1})
    assert exc.value.maybe_sent
    assert ApiCall.objects.count() == 1


@responses.activate
def test_rate_limit_honours_retry_after(connection, monkeypatch):
    waits = []
    monkeypatch.setattr(ApiClient, "sleep", staticmethod(waits.append))
    responses.get("https://api.example.test/items", status=429, headers={"Retry-After": "7"})
    responses.get("https://api.example.test/items", json=[])
    ApiClient(connection).get("items")
    assert waits == [7.0]


@responses.activate
def test_circuit_opens_after_repeated_failures(connection):
    responses.get("https://api.example.test/items", status=503)
    client = ApiClient(connection)
    client.max_retries = 0
    for _ in range(5):
        with pytest.raises(ServerError):
            client.get("items")
    connection.refresh_from_db()
    assert connection.circuit_open_until is not None
    assert not connection.is_healthy


def test_redacts_secrets_from_urls():
    assert redact_url("https://u:p@x.test/a?access_token=abc&page=2") == "https://x.test/a?access_token=%2A%2A%2A&page=2"
