from datetime import timedelta

import pytest
import requests
import responses
from django.utils import timezone

from apps.core.http import (
    ApiClient, AuthenticationError, CircuitOpen, ClientError, NetworkError, RateLimited, ServerError, redact_url,
)
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


@responses.activate
def test_every_attempt_has_connect_and_read_timeouts(connection, settings):
    settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT = 3.0, 20.0
    responses.get("https://api.example.test/items", json=[])
    ApiClient(connection).get("items")
    assert responses.calls[0].request.req_kwargs["timeout"] == (3.0, 20.0)


@responses.activate
def test_network_error_on_get_is_retried_then_succeeds(connection):
    responses.get("https://api.example.test/items", body=requests.ConnectionError("reset"))
    responses.get("https://api.example.test/items", json=[1])
    assert ApiClient(connection).get("items").json() == [1]
    assert list(ApiCall.objects.order_by("id").values_list("status_code", "attempt")) == [(None, 1), (200, 2)]
    assert ApiCall.objects.order_by("id").first().error == "Service injoignable (ConnectionError)"


@responses.activate
def test_post_refused_before_sending_is_retried(connection):
    responses.post("https://api.example.test/pay", body=requests.ConnectTimeout("no route"))
    responses.post("https://api.example.test/pay", json={"id": "p1"})
    assert ApiClient(connection).post("pay", json={"amount": 1}).json() == {"id": "p1"}
    assert ApiCall.objects.count() == 2


@responses.activate
def test_authentication_error_is_not_retried(connection):
    responses.get("https://api.example.test/me", status=401, json={"message": "Jeton invalide"})
    with pytest.raises(AuthenticationError, match="Jeton invalide"):
        ApiClient(connection).get("me")
    assert len(responses.calls) == 1


@responses.activate
def test_credentials_renewed_once_on_401(connection):
    class RenewingClient(ApiClient):
        renewals = 0

        def on_unauthorized(self, response):
            self.renewals += 1
            return True

    responses.get("https://api.example.test/me", status=401)
    client = RenewingClient(connection)
    with pytest.raises(AuthenticationError):
        client.get("me")
    assert client.renewals == 1
    assert len(responses.calls) == 2


@responses.activate
def test_retry_after_is_capped(connection, monkeypatch, settings):
    settings.HTTP_BACKOFF_CAP_SECONDS = 30.0
    waits = []
    monkeypatch.setattr(ApiClient, "sleep", staticmethod(waits.append))
    responses.get("https://api.example.test/items", status=429, headers={"Retry-After": "3600"})
    responses.get("https://api.example.test/items", json=[])
    ApiClient(connection).get("items")
    assert waits == [30.0]


@responses.activate
def test_rate_limit_exhausted_raises_rate_limited(connection):
    responses.get("https://api.example.test/items", status=429, headers={"Retry-After": "0"})
    client = ApiClient(connection)
    client.max_retries = 2
    with pytest.raises(RateLimited):
        client.get("items")
    assert len(responses.calls) == 3


@responses.activate
def test_open_circuit_refuses_without_calling(connection):
    Connection.objects.filter(pk=connection.pk).update(circuit_open_until=timezone.now() + timedelta(seconds=60))
    connection.refresh_from_db()
    with pytest.raises(CircuitOpen):
        ApiClient(connection).get("items")
    assert len(responses.calls) == 0
    assert not ApiCall.objects.exists()


@responses.activate
def test_success_after_failures_restores_health(connection):
    Connection.objects.filter(pk=connection.pk).update(consecutive_failures=2, last_error="HTTP 502")
    connection.refresh_from_db()
    responses.get("https://api.example.test/items", json=[])
    ApiClient(connection).get("items")
    connection.refresh_from_db()
    assert connection.consecutive_failures == 0
    assert connection.last_ok_at is not None


@responses.activate
def test_vendor_echo_of_a_secret_is_scrubbed_from_errors_and_call_log(connection):
    connection.secrets = {"api_token": "tok-secret-123456"}
    connection.save()
    responses.get(
        "https://api.example.test/me", status=401, json={"message": "Invalid token tok-secret-123456"},
        headers={"X-Request-Id": "req-42"},
    )
    with pytest.raises(AuthenticationError) as exc:
        ApiClient(connection).get("me")
    assert str(exc.value) == "Invalid token ***"
    call = ApiCall.objects.get()
    assert (call.error, call.request_id) == ("Invalid token ***", "req-42")


def test_redacts_api_keys_and_client_assertions():
    assert redact_url("https://x.test/a?api_key=k&client_assertion=jwt&limit=5") == (
        "https://x.test/a?api_key=%2A%2A%2A&client_assertion=%2A%2A%2A&limit=5"
    )
