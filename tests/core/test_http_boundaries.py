"""The outbound HTTP base at its edges: how many attempts, how long between them, when the circuit opens and for
how long, what is cut in the call log, which secrets are scrubbed, what a retry may repeat."""

from datetime import timedelta
from email.utils import format_datetime

import pytest
import requests
import responses
from django.utils import timezone

from apps.core.http import (
    ApiClient,
    AuthenticationError,
    CircuitOpen,
    ClientError,
    NetworkError,
    RateLimited,
    ServerError,
    redact_url,
    retry_after_seconds,
)
from apps.core.models import ApiCall, Connection

pytestmark = pytest.mark.django_db
URL = "https://api.example.test/items"


@pytest.fixture
def connection():
    return Connection.objects.create(provider="test", name="Test", slug="test", base_url="https://api.example.test/")


@pytest.fixture
def waits(monkeypatch):
    waited = []
    monkeypatch.setattr(ApiClient, "sleep", staticmethod(waited.append))
    return waited


def attempts():
    return list(ApiCall.objects.order_by("id").values_list("attempt", "status_code"))


# How many attempts ---------------------------------------------------------------------------------------------
@responses.activate
@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_a_get_failing_with_5xx_is_tried_exactly_max_retries_plus_one_times(connection, settings, waits, max_retries):
    settings.HTTP_MAX_RETRIES = max_retries
    responses.get(URL, status=502, json={"message": "Bad gateway"})
    with pytest.raises(ServerError) as failure:
        ApiClient(connection).get("items")
    assert attempts() == [(n, 502) for n in range(1, max_retries + 2)]
    assert len(waits) == max_retries
    assert (failure.value.status, failure.value.maybe_sent, str(failure.value)) == (502, False, "Bad gateway")


@responses.activate
def test_the_last_allowed_retry_can_still_succeed(connection, settings, waits):
    settings.HTTP_MAX_RETRIES = 2
    for _ in range(2):
        responses.get(URL, status=503)
    responses.get(URL, json={"ok": True})
    assert ApiClient(connection).get("items").json() == {"ok": True}
    assert attempts() == [(1, 503), (2, 503), (3, 200)]


@responses.activate
def test_a_network_error_on_a_get_is_retried_max_retries_times_then_reported(connection, settings, waits):
    settings.HTTP_MAX_RETRIES = 2
    responses.get(URL, body=requests.ConnectionError("reset"))
    with pytest.raises(NetworkError) as failure:
        ApiClient(connection).get("items")
    assert len(responses.calls) == 3 and failure.value.maybe_sent is False
    assert str(failure.value) == "Service injoignable (ConnectionError)"
    assert (failure.value.status, failure.value.payload, failure.value.request_id) == (None, None, "")


@responses.activate
@pytest.mark.parametrize("status", [429, 503])
def test_a_post_refused_with_429_or_503_is_retried_because_nothing_was_done(connection, settings, waits, status):
    settings.HTTP_MAX_RETRIES = 1
    responses.post(URL, status=status)
    responses.post(URL, json={"id": 1})
    assert ApiClient(connection).post("items", json={}).json() == {"id": 1}
    assert len(responses.calls) == 2


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_post_answered_with_another_5xx_is_never_repeated_and_may_have_been_done(connection, waits, status):
    responses.post(URL, status=status)
    with pytest.raises(ServerError) as failure:
        ApiClient(connection).post("items", json={})
    assert len(responses.calls) == 1 and failure.value.maybe_sent is True and waits == []


@responses.activate
@pytest.mark.parametrize("method", ["put", "delete"])
def test_idempotent_writes_are_retried_after_a_5xx(connection, waits, method):
    getattr(responses, method)(URL, status=500)
    getattr(responses, method)(URL, json={})
    getattr(ApiClient(connection), method)("items")
    assert len(responses.calls) == 2


@responses.activate
def test_a_post_whose_connection_was_reset_is_not_repeated(connection, waits):
    responses.post(URL, body=requests.ConnectionError("reset by peer"))
    with pytest.raises(NetworkError) as failure:
        ApiClient(connection).post("items", json={})
    assert len(responses.calls) == 1 and failure.value.maybe_sent is True


@responses.activate
def test_a_put_read_timeout_is_retried_and_not_reported_as_maybe_sent(connection, settings, waits):
    settings.HTTP_MAX_RETRIES = 0
    responses.put(URL, body=requests.ReadTimeout("slow"))
    with pytest.raises(NetworkError) as failure:
        ApiClient(connection).put("items", json={})
    assert failure.value.maybe_sent is False


@responses.activate
def test_a_caller_may_forbid_retries(connection, waits):
    responses.get(URL, status=503)
    with pytest.raises(ServerError):
        ApiClient(connection).get("items", allow_retry=False)
    responses.replace(responses.GET, URL, body=requests.ConnectionError("reset"))
    with pytest.raises(NetworkError):
        ApiClient(connection).get("items", allow_retry=False)
    assert len(responses.calls) == 2 and waits == []


@responses.activate
def test_a_429_that_never_clears_raises_rate_limited_with_its_status(connection, settings, waits):
    settings.HTTP_MAX_RETRIES = 1
    responses.get(URL, status=429, json={"message": "Slow down"})
    with pytest.raises(RateLimited) as failure:
        ApiClient(connection).get("items")
    assert (failure.value.status, str(failure.value)) == (429, "Slow down")
    connection.refresh_from_db()
    assert connection.consecutive_failures == 0  # being told to slow down is not an outage


@responses.activate
@pytest.mark.parametrize("status, error", [(400, ClientError), (404, ClientError), (403, AuthenticationError)])
def test_client_errors_are_raised_once_with_their_status(connection, waits, status, error):
    responses.get(URL, status=status, json={"error_description": "nope"})
    with pytest.raises(error) as failure:
        ApiClient(connection).get("items")
    assert type(failure.value) is error and failure.value.status == status and str(failure.value) == "nope"
    assert failure.value.payload == {"error_description": "nope"}
    assert len(responses.calls) == 1


@responses.activate
def test_a_401_renewal_that_succeeds_repeats_the_call_once(connection):
    class Renewing(ApiClient):
        def on_unauthorized(self, response):
            return True

    responses.get(URL, status=401)
    responses.get(URL, json={"ok": 1})
    assert Renewing(connection).get("items").json() == {"ok": 1}
    assert attempts() == [(1, 401), (2, 200)]


# How long between attempts -------------------------------------------------------------------------------------
@responses.activate
def test_backoff_doubles_from_half_a_second_with_jitter_and_is_capped(connection, settings, waits, monkeypatch):
    import random

    settings.HTTP_MAX_RETRIES, settings.HTTP_BACKOFF_CAP_SECONDS = 5, 3.0
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    responses.get(URL, status=503)
    with pytest.raises(ServerError):
        ApiClient(connection).get("items")
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]
    waits.clear()
    ApiCall.objects.all().delete()
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    with pytest.raises(ServerError):
        ApiClient(connection).get("items")
    assert waits == [0.25, 0.5, 1.0, 1.5, 1.5]


@responses.activate
@pytest.mark.parametrize("cap, waited", [(30.0, 30.0), (30.5, 30.5), (60.0, 30.5)])
def test_retry_after_is_honoured_up_to_the_cap(connection, settings, waits, cap, waited):
    settings.HTTP_BACKOFF_CAP_SECONDS = cap
    responses.get(URL, status=429, headers={"Retry-After": "30.5"})
    responses.get(URL, json=[])
    ApiClient(connection).get("items")
    assert waits == [waited]


def test_retry_after_reads_seconds_or_an_http_date_and_never_goes_negative():
    def answer(value):
        response = requests.Response()
        if value is not None:
            response.headers["Retry-After"] = value
        return retry_after_seconds(response)

    assert answer("12") == 12.0 and answer("0") == 0.0 and answer("-5") == 0.0
    in_two_minutes = format_datetime(timezone.now() + timedelta(seconds=120), usegmt=True)
    assert 115 <= answer(in_two_minutes) <= 120
    assert answer(format_datetime(timezone.now() - timedelta(hours=1), usegmt=True)) == 0.0
    assert answer(None) is None and answer("") is None and answer("soon") is None


# The circuit -------------------------------------------------------------------------------------------------
@responses.activate
def test_the_circuit_opens_on_the_fifth_consecutive_failure_not_the_fourth_for_sixty_seconds(connection, settings):
    settings.HTTP_MAX_RETRIES = 0
    responses.get(URL, status=500)
    client = ApiClient(connection)
    for _ in range(4):
        with pytest.raises(ServerError):
            client.get("items")
    connection.refresh_from_db()
    assert (connection.consecutive_failures, connection.circuit_open_until) == (4, None)
    before = timezone.now()
    with pytest.raises(ServerError):
        client.get("items")
    connection.refresh_from_db()
    assert connection.consecutive_failures == 5
    assert before + timedelta(seconds=59) < connection.circuit_open_until <= timezone.now() + timedelta(seconds=60)
    with pytest.raises(CircuitOpen) as refusal:
        ApiClient(connection).post("items")
    assert str(refusal.value).startswith("Test est indisponible ; nouvel essai après ")
    assert (refusal.value.maybe_sent, refusal.value.request_id, refusal.value.status) == (False, "", None)
    assert len(responses.calls) == 5


@responses.activate
def test_a_circuit_whose_time_is_up_lets_calls_through_and_a_success_closes_it(connection):
    Connection.objects.filter(pk=connection.pk).update(circuit_open_until=timezone.now() - timedelta(seconds=1),
                                                       consecutive_failures=5)
    connection.refresh_from_db()
    responses.get(URL, json=[])
    ApiClient(connection).get("items")
    connection.refresh_from_db()
    assert (connection.circuit_open_until, connection.consecutive_failures) == (None, 0)


@responses.activate
def test_a_network_failure_counts_toward_the_circuit_with_its_message(connection, settings):
    settings.HTTP_MAX_RETRIES = 0
    responses.get(URL, body=requests.ConnectionError("reset"))
    with pytest.raises(NetworkError):
        ApiClient(connection).get("items")
    connection.refresh_from_db()
    assert (connection.consecutive_failures, connection.last_error) == (1, "Service injoignable (ConnectionError)")


@responses.activate
@pytest.mark.parametrize("age, refreshed", [(timedelta(seconds=30), False),
                                            (timedelta(seconds=30, microseconds=1), True)])
def test_a_healthy_connection_records_its_last_success_at_most_every_30_seconds(connection, monkeypatch, age,
                                                                                refreshed):
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(last_ok_at=now - age)
    connection.refresh_from_db()
    monkeypatch.setattr(timezone, "now", lambda: now)
    responses.get(URL, json=[])
    ApiClient(connection).get("items")
    connection.refresh_from_db()
    assert connection.last_ok_at == (now if refreshed else now - age)


@responses.activate
@pytest.mark.parametrize("trouble", [{"consecutive_failures": 2},
                                     {"circuit_open_until": timezone.now() - timedelta(seconds=1)}])
def test_a_success_clears_earlier_failures_even_right_after_another_success(connection, trouble):
    Connection.objects.filter(pk=connection.pk).update(last_ok_at=timezone.now(), **trouble)
    connection.refresh_from_db()
    responses.get(URL, json=[])
    ApiClient(connection).get("items")
    connection.refresh_from_db()
    assert (connection.consecutive_failures, connection.circuit_open_until) == (0, None)


def test_a_refused_connection_never_reached_the_server_so_even_a_post_is_retried(connection, settings, waits):
    import socket

    with socket.socket() as probe:  # a local port nobody listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.HTTP_MAX_RETRIES = 1
    with pytest.raises(NetworkError) as failure:
        ApiClient(connection, base_url=f"http://127.0.0.1:{port}").post("pay", json={"amount": 1})
    assert failure.value.maybe_sent is False
    assert [attempt for attempt, _status in attempts()] == [1, 2]


@responses.activate
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_every_verb_sends_its_body_and_parameters(connection, method):
    getattr(responses, method)(URL, json={})
    getattr(ApiClient(connection), method)("items", json={"a": 1}, params={"p": "2"})
    request = responses.calls[0].request
    assert (request.method, request.body, request.url) == (method.upper(), b'{"a": 1}', URL + "?p=2")


# The call log --------------------------------------------------------------------------------------------------
@responses.activate
def test_each_attempt_is_logged_with_method_redacted_url_status_and_vendor_request_id(connection):
    responses.post(URL, status=422, json={"message": "m" * 400}, headers={"Request-Id": "r" * 130})
    with pytest.raises(ClientError) as failure:
        ApiClient(connection).post("items?token=abc", json={"secret": "never logged"})
    call = ApiCall.objects.get()
    assert (call.method, call.url, call.status_code, call.attempt) == (
        "POST", "https://api.example.test/items?token=%2A%2A%2A", 422, 1)
    assert call.request_id == "r" * 120 and failure.value.request_id == "r" * 130
    assert call.error == "m" * 300 and str(failure.value) == "m" * 300
    assert call.duration_ms >= 0


@responses.activate
def test_a_long_url_is_logged_cut_at_1000_characters(connection):
    path = "items/" + "a" * 1200
    responses.get(f"https://api.example.test/{path}", json=[])
    ApiClient(connection).get(path)
    assert ApiCall.objects.get().url == f"https://api.example.test/{path}"[:1000]


@responses.activate
def test_an_error_without_a_readable_message_says_its_http_status(connection):
    responses.get(URL, status=418, body="<html>teapot</html>")
    with pytest.raises(ClientError) as failure:
        ApiClient(connection).get("items")
    assert str(failure.value) == "HTTP 418" and failure.value.payload is None
    responses.replace(responses.GET, URL, status=400, json={"message": 42, "error": "bad_request"})
    with pytest.raises(ClientError) as failure:
        ApiClient(connection).get("items")
    assert str(failure.value) == "bad_request"


@responses.activate
@pytest.mark.parametrize("secret, scrubbed", [("12345678", True), ("1234567", False)])
def test_secrets_of_eight_characters_or_more_are_scrubbed_from_messages(connection, secret, scrubbed):
    connection.webhook_secrets = [secret]
    connection.oauth_token = {"access_token": "oauth-access-token-value", "expires_in": 3600}
    connection.save()
    responses.get(URL, status=400, json={"message": f"bad {secret} and oauth-access-token-value"})
    with pytest.raises(ClientError) as failure:
        ApiClient(connection).get("items")
    assert str(failure.value) == ("bad *** and ***" if scrubbed else f"bad {secret} and ***")


# URLs, sessions, headers -------------------------------------------------------------------------------------
def test_redacted_urls_keep_host_port_path_and_harmless_parameters_only():
    assert redact_url("https://user:pw@api.test:8443/v1/x?page=2&Password=p&empty=#frag") == (
        "https://api.test:8443/v1/x?page=2&Password=%2A%2A%2A&empty=")


@responses.activate
def test_paths_and_absolute_urls_are_both_accepted_and_headers_merged(connection):
    class WithAuth(ApiClient):
        def auth_headers(self):
            return {"Authorization": "Bearer t"}

    responses.get("https://api.example.test/a/b", json=[])
    responses.get("https://elsewhere.test/c", json=[])
    client = WithAuth(connection)
    client.get("/a/b", headers={"X-Extra": "1"})
    client.get("https://elsewhere.test/c")
    first = responses.calls[0].request
    assert (first.headers["Accept"], first.headers["Authorization"], first.headers["X-Extra"]) == (
        "application/json", "Bearer t", "1")
    assert responses.calls[1].request.url == "https://elsewhere.test/c"
    assert client.session is ApiClient(connection).session  # one session per connection


@responses.activate
def test_redirects_are_never_followed(connection):
    responses.get(URL, status=302, headers={"Location": "https://evil.test/"})
    responses.get("https://evil.test/", json={"stolen": True})
    assert ApiClient(connection).get("items").status_code == 302
    assert len(responses.calls) == 1


@responses.activate
def test_patch_is_never_retried(connection, waits):
    responses.patch(URL, status=500)
    with pytest.raises(ServerError) as failure:
        ApiClient(connection).patch("items", json={})
    assert len(responses.calls) == 1 and failure.value.maybe_sent is True


@responses.activate
def test_each_call_logs_its_duration_in_milliseconds(connection, monkeypatch):
    from types import SimpleNamespace

    from apps.core import http

    clock = iter([100.0, 102.0])
    monkeypatch.setattr(http, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    responses.get(URL, json=[])
    ApiClient(connection).get("items")
    assert ApiCall.objects.get().duration_ms == 2000


@responses.activate
@pytest.mark.parametrize("length", [300, 301])
def test_a_system_s_own_error_message_is_logged_cut_at_300_characters(connection, length):
    class Verbose(ApiClient):
        def error_message(self, response, payload):
            return "v" * length

    responses.get(URL, status=400)
    with pytest.raises(ClientError):
        Verbose(connection).get("items")
    assert ApiCall.objects.get().error == "v" * 300


def test_every_connection_gets_a_real_session_of_its_own(db):
    from apps.core.http import session_for

    import random

    first, second = Connection(pk=random.randrange(10**9, 2 * 10**9)), Connection(pk=random.randrange(10**6, 10**9))
    assert isinstance(session_for(first), requests.Session)
    assert session_for(first) is session_for(first) and session_for(first) is not session_for(second)


def test_a_url_without_a_host_is_redacted_without_inventing_one():
    assert redact_url("/relative/path?token=t&page=1") == "/relative/path?token=%2A%2A%2A&page=1"


@responses.activate
def test_a_base_url_saved_with_a_trailing_slash_and_a_path_with_a_leading_one_make_one_slash(connection):
    responses.get("https://api.example.test/v1/items", json=[])
    ApiClient(connection, base_url="https://api.example.test/v1/").get("/items")
    assert responses.calls[0].request.url == "https://api.example.test/v1/items"


@responses.activate
def test_a_path_is_used_as_given_after_the_base_url(connection):
    responses.get("https://api.example.test/APIX/Xero/items", json=[])
    ApiClient(connection, base_url="https://api.example.test/APIX").get("Xero/items")
    assert responses.calls[0].request.url == "https://api.example.test/APIX/Xero/items"


@pytest.mark.parametrize("offset, refused", [(timedelta(0), False), (timedelta(microseconds=1), True)])
@responses.activate
def test_the_circuit_lets_calls_through_from_the_instant_it_closes(connection, monkeypatch, offset, refused):
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    Connection.objects.filter(pk=connection.pk).update(circuit_open_until=now + offset)
    connection.refresh_from_db()
    responses.get(URL, json=[])
    if refused:
        with pytest.raises(CircuitOpen) as refusal:
            ApiClient(connection).get("items")
        until = timezone.localtime(now + offset)
        assert str(refusal.value) == f"Test est indisponible ; nouvel essai après {until:%H:%M:%S}."
    else:
        ApiClient(connection).get("items")


@responses.activate
def test_a_success_is_logged_without_error_and_without_an_invented_request_id(connection):
    responses.get(URL, json=[])
    ApiClient(connection).get("items")
    call = ApiCall.objects.get()
    assert (call.error, call.request_id, call.status_code) == ("", "", 200)


@responses.activate
def test_a_network_failure_is_logged_with_its_url_and_no_request_id(connection, settings, waits):
    settings.HTTP_MAX_RETRIES = 0
    responses.get(URL + "?token=abc", body=requests.ConnectionError("reset"))
    with pytest.raises(NetworkError):
        ApiClient(connection).get("items?token=abc")
    call = ApiCall.objects.get()
    assert (call.url, call.request_id, call.status_code) == (URL + "?token=%2A%2A%2A", "", None)
    assert call.error == "Service injoignable (ConnectionError)"


@responses.activate
def test_network_retries_back_off_like_5xx_ones(connection, settings, waits, monkeypatch):
    import random

    settings.HTTP_MAX_RETRIES = 2
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    responses.get(URL, body=requests.ConnectionError("reset"))
    with pytest.raises(NetworkError):
        ApiClient(connection).get("items")
    assert waits == [0.5, 1.0]


@responses.activate
def test_the_renewal_hook_sees_the_401_it_answers(connection):
    seen = []

    class Renewing(ApiClient):
        def on_unauthorized(self, response):
            seen.append((response.status_code, response.headers.get("WWW-Authenticate")))
            return False

    responses.get(URL, status=401, headers={"WWW-Authenticate": "Bearer error=invalid_token"})
    with pytest.raises(AuthenticationError):
        Renewing(connection).get("items")
    assert seen == [(401, "Bearer error=invalid_token")]


@responses.activate
@pytest.mark.parametrize("status, error", [(500, ServerError), (429, RateLimited)])
def test_server_and_rate_limit_errors_carry_the_vendor_s_payload_and_request_id(connection, settings, waits, status,
                                                                              error):
    settings.HTTP_MAX_RETRIES = 0
    responses.get(URL, status=status, json={"message": "Plus tard", "code": 9}, headers={"X-Request-Id": "req-77"})
    with pytest.raises(error) as failure:
        ApiClient(connection).get("items")
    assert (failure.value.payload, failure.value.request_id, failure.value.status) == (
        {"message": "Plus tard", "code": 9}, "req-77", status)


@responses.activate
def test_a_form_body_is_sent_as_given(connection):
    responses.post(URL, json={})
    ApiClient(connection).post("items", data={"grant_type": "refresh_token"})
    assert responses.calls[0].request.body == "grant_type=refresh_token"


@responses.activate
def test_an_open_circuit_says_when_calls_will_be_tried_again(connection):
    until = timezone.now() + timedelta(hours=2)
    Connection.objects.filter(pk=connection.pk).update(circuit_open_until=until)
    connection.refresh_from_db()
    with pytest.raises(CircuitOpen) as refusal:
        ApiClient(connection).get("items")
    assert str(refusal.value) == f"Test est indisponible ; nouvel essai après {timezone.localtime(until):%H:%M:%S}."


# The JSON a vendor receives ---------------------------------------------------------------------------------------
@responses.activate
def test_an_amount_leaves_as_the_exact_number_and_accents_as_themselves(connection):
    from decimal import Decimal

    responses.post("https://api.example.test/pay", json={"ok": True})
    ApiClient(connection).post("pay", json={"amount": Decimal("98765432109876.54"), "reference": "Café Lumière"})
    body = responses.calls[0].request.body
    # 16 significant digits: a binary float would send ...55. Accents are UTF-8, not \u escapes the vendor shows.
    assert body == '{"amount": 98765432109876.54, "reference": "Café Lumière"}'.encode()
    assert responses.calls[0].request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
def test_an_amount_that_is_not_a_number_is_refused_before_anything_is_sent(connection, amount):
    from decimal import Decimal

    with responses.RequestsMock() as nothing_sent:
        for value in (float(amount), Decimal(amount)):
            with pytest.raises(ValueError):
                ApiClient(connection).post("pay", json={"amount": value})
        assert len(nothing_sent.calls) == 0
