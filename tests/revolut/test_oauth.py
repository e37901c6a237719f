"""Connect once, never think about tokens again: assertion claims, single-flight refresh, token loss."""

import threading
from datetime import timedelta
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography import x509
from django.db import connection as db_connection
from django.utils import timezone

from apps.core.models import ApiCall, Connection
from apps.revolut import oauth
from apps.revolut.actions import PayBillViaRevolut
from apps.revolut.client import RevolutClient
from tests.revolut.conftest import API, user_with

TOKEN_URL = f"{API}/auth/token"


def token_requests(api):
    return [call for call in api.calls if call.request.url == TOKEN_URL]


def expire(connection):
    Connection.objects.filter(pk=connection.pk).update(token_expires_at=timezone.now() - timedelta(seconds=1))
    connection.refresh_from_db()


def test_client_assertion_is_rs256_with_the_claims_revolut_expects(revolut, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.fr"
    assertion = oauth.client_assertion(revolut)
    certificate = x509.load_pem_x509_certificate(revolut.config["certificate_pem"].encode())
    assert jwt.get_unverified_header(assertion)["alg"] == "RS256"
    claims = jwt.decode(assertion, certificate.public_key(), algorithms=["RS256"], audience="https://revolut.com")
    assert claims["iss"] == "console.example.fr"  # the redirect URI's host, no scheme
    assert claims["sub"] == "client-id-123"
    assert isinstance(claims["exp"], int) and claims["exp"] > timezone.now().timestamp()


def test_certificate_fingerprint_is_the_sha256_of_the_downloadable_certificate(revolut):
    pem = revolut.config["certificate_pem"]
    fingerprint = oauth.certificate_fingerprint(pem)
    certificate = x509.load_pem_x509_certificate(pem.encode())
    assert fingerprint.replace(":", "") == certificate.fingerprint(certificate.signature_hash_algorithm).hex().upper()
    assert len(fingerprint.split(":")) == 32


def test_an_expiring_token_is_refreshed_before_the_call_and_the_refresh_token_is_kept(revolut, api):
    expire(revolut)
    api.post(TOKEN_URL, json={"access_token": "oa_sand_new", "token_type": "bearer", "expires_in": 2399})
    api.get(f"{API}/accounts", json=[])
    RevolutClient(revolut).list_accounts()

    (token_call,) = token_requests(api)
    assert token_call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = parse_qs(token_call.request.body)
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["oa_sand_refresh"]
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assert api.calls[-1].request.headers["Authorization"] == "Bearer oa_sand_new"
    revolut.refresh_from_db()
    stored = {key: value for key, value in revolut.oauth_token.items() if key != "refresh_token_issued_at"}
    assert stored == {"access_token": "oa_sand_new", "refresh_token": "oa_sand_refresh", "token_type": "bearer"}
    assert revolut.token_expires_at > timezone.now() + timedelta(minutes=39)


def test_a_401_refreshes_once_and_repeats_the_call(revolut, api):
    api.get(f"{API}/accounts", status=401, json={"message": "The request should be authorized."})
    api.post(TOKEN_URL, json={"access_token": "oa_sand_after_401", "token_type": "bearer", "expires_in": 2399})
    api.get(f"{API}/accounts", json=[{"id": "a"}])
    assert RevolutClient(revolut).list_accounts() == [{"id": "a"}]
    assert len(token_requests(api)) == 1
    assert api.calls[-1].request.headers["Authorization"] == "Bearer oa_sand_after_401"


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_refresh_once_and_all_use_the_new_token(revolut, api):
    expire(revolut)
    refreshes = threading.Semaphore(0)

    def slow_token(request):
        refreshes.release()
        threading.Event().wait(0.3)  # the others pile up on the lock meanwhile
        return 200, {}, '{"access_token": "oa_sand_single", "token_type": "bearer", "expires_in": 2399}'

    api.add_callback("POST", TOKEN_URL, callback=slow_token)
    api.get(f"{API}/accounts", json=[])
    used_tokens, errors = [], []

    def worker():
        try:
            client = RevolutClient(Connection.objects.get(pk=revolut.pk))  # each worker its own copy
            client.list_accounts()
            used_tokens.append(client.connection.oauth_token["access_token"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert len(token_requests(api)) == 1
    assert used_tokens == ["oa_sand_single"] * 5
    account_calls = [c for c in api.calls if c.request.url.endswith("/accounts")]
    assert {c.request.headers["Authorization"] for c in account_calls} == {"Bearer oa_sand_single"}


def test_invalid_grant_requires_reconnection_without_a_retry_storm(revolut, api, bill, mirrors):
    expire(revolut)
    api.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "revoked"})
    api.get(f"{API}/accounts", json=[])

    for _ in range(3):
        with pytest.raises(oauth.ReconnectRequired):
            RevolutClient(revolut).list_accounts()
    assert len(token_requests(api)) == 1  # later attempts stop before reaching Revolut
    assert not [c for c in api.calls if c.request.url.endswith("/accounts")]
    revolut.refresh_from_db()
    assert revolut.token_status == Connection.TokenStatus.RECONNECT_REQUIRED
    assert revolut.health_label == "Reconnexion requise"
    accountant = user_with("comptable", "pay_suppliers")
    assert PayBillViaRevolut().unavailable_reason(bill, accountant) == "Connexion indisponible : Reconnexion requise."


def test_reconnect_banner_is_shown_on_the_revolut_pages(revolut, client):
    Connection.objects.filter(pk=revolut.pk).update(token_status=Connection.TokenStatus.RECONNECT_REQUIRED)
    client.force_login(user_with("tresorerie", "view_console", "view_balances"))
    for url in ("/revolut/", "/revolut/balances/"):
        response = client.get(url)
        assert response.status_code == 200
        assert "Reconnexion requise" in response.content.decode()


def test_no_token_request_is_logged_with_its_secrets(revolut, api):
    expire(revolut)
    api.post(TOKEN_URL, json={"access_token": "oa_sand_new", "token_type": "bearer", "expires_in": 2399})
    api.get(f"{API}/accounts", json=[])
    RevolutClient(revolut).list_accounts()
    logged = " ".join(f"{c.url} {c.error}" for c in ApiCall.objects.all())
    assert "oa_sand" not in logged and "BEGIN" not in logged

