"""Revolut OAuth at its edges: when a token is refreshed (to the microsecond), what an answer must carry, who
refreshes after a 401, when a person must reconnect, the keys accepted, the consent page and the assertion."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.core.http import ClientError
from apps.core.models import Connection
from apps.revolut import oauth
from apps.revolut.rate_limit import RequestBudget
from tests.revolut.conftest import API, make_connection, private_key_pem

TOKEN_URL = f"{API}/auth/token"


@pytest.fixture
def frozen_now(monkeypatch):
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def token_calls(api):
    return [parse_qs(call.request.body) for call in api.calls if call.request.url == TOKEN_URL]


def expire(connection, at):
    Connection.objects.filter(pk=connection.pk).update(token_expires_at=at)
    connection.refresh_from_db()


def answer(api, **payload):
    api.post(TOKEN_URL, json=payload)


# When to refresh ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("left, refresh", [(timedelta(minutes=5), True), (timedelta(minutes=5, microseconds=1), False)])
def test_a_token_is_refreshed_from_five_minutes_before_it_expires(revolut, frozen_now, left, refresh):
    revolut.token_expires_at = frozen_now + left
    assert oauth.needs_refresh(revolut) is refresh
    revolut.token_expires_at = None
    assert oauth.needs_refresh(revolut) is True


def test_a_fresh_token_is_used_without_asking_revolut(revolut, api):
    oauth.ensure_fresh_token(revolut)
    assert token_calls(api) == []


# What a token answer must carry -------------------------------------------------------------------------------
def test_a_refresh_stores_the_new_tokens_their_expiry_and_keeps_the_refresh_token_if_none_is_sent(
    revolut, api, frozen_now
):
    expire(revolut, frozen_now)
    answer(api, access_token="oa_new", token_type="bearer", expires_in=2399)
    oauth.ensure_fresh_token(revolut)
    revolut.refresh_from_db()
    assert revolut.oauth_token == {"access_token": "oa_new", "refresh_token": "oa_sand_refresh", "token_type": "bearer"}
    assert revolut.token_expires_at == frozen_now + timedelta(seconds=2399)
    assert revolut.token_status == Connection.TokenStatus.OK
    (sent,) = token_calls(api)
    assert (sent["grant_type"], sent["refresh_token"]) == (["refresh_token"], ["oa_sand_refresh"])
    assert sent["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assert jwt.get_unverified_header(sent["client_assertion"][0])["alg"] == "RS256"


def test_a_new_refresh_token_replaces_the_old_one_and_the_expiry_defaults_to_40_minutes(revolut, api, frozen_now):
    expire(revolut, frozen_now)
    answer(api, access_token="oa_new", refresh_token="oa_refresh_2")
    oauth.ensure_fresh_token(revolut)
    revolut.refresh_from_db()
    assert revolut.oauth_token == {"access_token": "oa_new", "refresh_token": "oa_refresh_2", "token_type": "bearer"}
    assert revolut.token_expires_at == frozen_now + timedelta(seconds=2399)


def test_an_answer_without_an_access_token_changes_nothing_and_says_so(revolut, api, frozen_now):
    before = dict(revolut.oauth_token)
    expire(revolut, frozen_now)
    answer(api, token_type="bearer", expires_in=2399)
    with pytest.raises(ClientError) as refusal:
        oauth.ensure_fresh_token(revolut)
    assert str(refusal.value) == "Réponse de Revolut incomplète : jeton manquant."
    revolut.refresh_from_db()
    assert revolut.oauth_token == before


def test_a_consent_code_is_exchanged_for_both_tokens_and_the_consent_is_dated(revolut, api, frozen_now):
    answer(api, access_token="oa_first", refresh_token="oa_refresh_first", expires_in=100)
    oauth.exchange_code(revolut, "code-123")
    revolut.refresh_from_db()
    assert revolut.oauth_token["refresh_token"] == "oa_refresh_first"
    assert revolut.token_expires_at == frozen_now + timedelta(seconds=100)
    assert revolut.config["consented_at"] == frozen_now.isoformat()
    assert revolut.config["client_id"] == "client-id-123"  # the rest of the config is kept
    (sent,) = token_calls(api)
    assert (sent["grant_type"], sent["code"]) == (["authorization_code"], ["code-123"])


def test_a_code_exchange_without_a_refresh_token_is_refused(revolut, api):
    answer(api, access_token="oa_first")
    with pytest.raises(ClientError):
        oauth.exchange_code(revolut, "code-123")
    revolut.refresh_from_db()
    assert "consented_at" not in revolut.config


# Who refreshes after a 401 ------------------------------------------------------------------------------------
def test_after_a_401_the_token_is_refreshed_only_if_nobody_else_did_it_already(revolut, api):
    answer(api, access_token="oa_new")
    oauth.ensure_fresh_token(revolut, rejected_token="an-older-token")  # someone refreshed since: reuse theirs
    assert token_calls(api) == []
    oauth.ensure_fresh_token(revolut, rejected_token="oa_sand_current")  # ours was refused: refresh
    assert len(token_calls(api)) == 1
    revolut.refresh_from_db()
    assert revolut.oauth_token["access_token"] == "oa_new"


# When a person must reconnect ----------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 401])
@pytest.mark.parametrize("error", ["invalid_grant", "unauthorized_client"])
def test_a_refused_refresh_token_requires_reconnection_and_stops_every_later_call(revolut, api, frozen_now, error,
                                                                                  status):
    expire(revolut, frozen_now)
    api.post(TOKEN_URL, status=status, json={"error": error, "error_description": "nope"})
    with pytest.raises(oauth.ReconnectRequired) as refusal:
        oauth.ensure_fresh_token(revolut)
    message = f"Revolut a refusé le jeton de rafraîchissement ({error})."
    assert str(refusal.value) == message
    stored = Connection.objects.get(pk=revolut.pk)
    assert (stored.token_status, stored.last_error) == (Connection.TokenStatus.RECONNECT_REQUIRED, message)
    assert stored.last_error_at == frozen_now
    with pytest.raises(oauth.ReconnectRequired) as again:
        oauth.ensure_fresh_token(stored, rejected_token="oa_sand_current")
    assert str(again.value) == "Reconnexion à Revolut requise."
    assert len(token_calls(api)) == 1


@pytest.mark.parametrize("status, payload", [(400, {"error": "invalid_request"}), (500, {"error": "invalid_grant"}),
                                             (400, {"message": "invalid_grant"})])
def test_other_token_errors_do_not_require_reconnection(revolut, api, frozen_now, settings, status, payload):
    settings.HTTP_MAX_RETRIES = 0
    expire(revolut, frozen_now)
    api.post(TOKEN_URL, status=status, json=payload)
    with pytest.raises(Exception) as failure:
        oauth.ensure_fresh_token(revolut)
    assert not isinstance(failure.value, oauth.ReconnectRequired)
    assert Connection.objects.get(pk=revolut.pk).token_status == Connection.TokenStatus.OK


def test_without_a_refresh_token_a_person_must_connect(revolut, api, frozen_now):
    revolut.oauth_token = {"access_token": "oa_sand_current"}
    revolut.token_expires_at = frozen_now
    revolut.save()
    with pytest.raises(oauth.ReconnectRequired) as refusal:
        oauth.ensure_fresh_token(revolut)
    assert str(refusal.value) == "Aucun jeton de rafraîchissement : connectez Revolut."
    assert Connection.objects.get(pk=revolut.pk).token_status == Connection.TokenStatus.RECONNECT_REQUIRED
    assert token_calls(api) == []


def test_a_connection_marked_for_reconnection_while_we_waited_is_not_refreshed(revolut, api, frozen_now):
    Connection.objects.filter(pk=revolut.pk).update(token_status=Connection.TokenStatus.RECONNECT_REQUIRED)
    revolut.token_expires_at = frozen_now  # our copy is older than the row
    with pytest.raises(oauth.ReconnectRequired) as refusal:
        oauth.ensure_fresh_token(revolut)
    assert str(refusal.value) == "Reconnexion à Revolut requise."  # what the page and the failed action say
    assert token_calls(api) == []


def test_a_token_refreshed_by_another_worker_while_we_waited_is_reused(revolut, api, frozen_now):
    Connection.objects.filter(pk=revolut.pk).update(token_expires_at=frozen_now + timedelta(minutes=30))
    revolut.token_expires_at = frozen_now  # our copy says it expires now; the row says it was renewed
    oauth.ensure_fresh_token(revolut)
    assert token_calls(api) == []
    assert revolut.token_expires_at == frozen_now + timedelta(minutes=30)


def test_the_refresh_lock_is_per_connection_and_expires_after_30_seconds(revolut):
    lock = oauth._lock(revolut)
    assert (lock.name, lock.timeout, lock.blocking_timeout) == (f"revolut:token-refresh:{revolut.pk}", 30, 30)


# The assertion ------------------------------------------------------------------------------------------------
def test_the_assertion_lives_five_minutes(revolut, monkeypatch):
    import time

    monkeypatch.setattr(time, "time", lambda: 1_767_225_600.7)
    claims = jwt.decode(oauth.client_assertion(revolut), options={"verify_signature": False})
    assert claims["exp"] == 1_767_225_900
    assert jwt.get_unverified_header(oauth.client_assertion(revolut))["typ"] == "JWT"


@pytest.mark.parametrize("missing", ["key", "client_id"])
def test_no_assertion_without_the_key_or_the_client_id(revolut, missing):
    if missing == "key":
        revolut.secrets = {}
    else:
        revolut.config = {**revolut.config, "client_id": ""}
    with pytest.raises(oauth.ReconnectRequired) as refusal:
        oauth.client_assertion(revolut)
    assert str(refusal.value) == "Clé privée ou ClientID manquant : terminez la configuration de Revolut."


# Keys and certificate ------------------------------------------------------------------------------------------
def test_weak_foreign_or_unreadable_keys_are_refused_in_french():
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    elliptic = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    for pem in (weak, elliptic):
        with pytest.raises(ValidationError) as refusal:
            oauth.load_private_key(pem)
        assert refusal.value.messages == ["Clé privée refusée : RSA de 2048 bits au moins attendue."]
    with pytest.raises(ValidationError) as refusal:
        oauth.load_private_key("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    assert refusal.value.messages == [
        "Clé privée illisible : attendu une clé RSA au format PEM, sans mot de passe."]
    assert oauth.load_private_key(private_key_pem()).key_size == 2048


def test_a_generated_key_is_the_2048_bit_rsa_key_revolut_asks_for():
    key = oauth.load_private_key(oauth.generate_private_key_pem())
    assert (key.key_size, key.public_key().public_numbers().e) == (2048, 65537)


def test_the_certificate_is_valid_from_the_moment_it_is_made_whatever_the_server_s_time_zone(revolut):
    # The console runs in Europe/Paris: a certificate dated in local time would start in the future for
    # Revolut, which refuses it until then.
    before = timezone.now()
    certificate = x509.load_pem_x509_certificate(oauth.self_signed_certificate_pem(private_key_pem(), "c").encode())
    assert before - timedelta(minutes=5, seconds=1) <= certificate.not_valid_before_utc <= timezone.now()


def test_a_console_without_a_public_host_name_still_gets_a_named_certificate(revolut, settings):
    settings.PUBLIC_BASE_URL = ""  # not configured yet: the redirect URI has no host
    oauth.install_key(revolut, private_key_pem())
    certificate = x509.load_pem_x509_certificate(revolut.config["certificate_pem"].encode())
    assert certificate.subject.rfc4514_string() == "CN=hypervisual-console"


def test_the_certificate_names_the_console_host_and_is_valid_five_years(revolut, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.fr"
    pem = oauth.self_signed_certificate_pem(private_key_pem(), oauth.redirect_host())
    certificate = x509.load_pem_x509_certificate(pem.encode())
    assert certificate.subject.rfc4514_string() == "CN=console.example.fr" == certificate.issuer.rfc4514_string()
    validity = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert validity == timedelta(days=1825, minutes=5)
    long_name = oauth.self_signed_certificate_pem(private_key_pem(), "h" * 80)
    assert x509.load_pem_x509_certificate(long_name.encode()).subject.rfc4514_string() == "CN=" + "h" * 64
    fingerprint = oauth.certificate_fingerprint(pem)
    assert len(fingerprint.split(":")) == 32 and fingerprint == fingerprint.upper()


@pytest.mark.parametrize("status, expected", [(Connection.TokenStatus.NOT_APPLICABLE, Connection.TokenStatus.MISSING),
                                              (Connection.TokenStatus.OK, Connection.TokenStatus.OK)])
def test_installing_a_key_stores_it_with_its_certificate(db, status, expected):
    connection = Connection.objects.create(provider="revolut", name="R", slug="r", token_status=status,
                                           base_url="https://sandbox-b2b.revolut.com/api/1.0")
    oauth.install_key(connection, private_key_pem())
    connection.refresh_from_db()
    assert connection.secret("private_key_pem") == private_key_pem()
    assert connection.config["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert connection.token_status == expected


# Consent page --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("base_url, page", [
    ("https://b2b.revolut.com/api/1.0", "https://business.revolut.com/app-confirm"),
    ("https://sandbox-b2b.revolut.com/api/2.0/", "https://sandbox-business.revolut.com/app-confirm"),
    ("http://testserver/sandbox/revolut/api/1.0", "http://testserver/sandbox/revolut/app-confirm"),
    ("http://testserver/sandbox/revolut", "http://testserver/sandbox/revolut/app-confirm"),
])
def test_the_consent_page_is_revolut_s_for_its_hosts_and_the_emulator_s_otherwise(db, base_url, page, settings):
    settings.PUBLIC_BASE_URL = "https://console.example.fr"
    connection = make_connection(base_url)
    url = oauth.consent_url(connection, "state-1")
    assert url.split("?")[0] == page
    assert parse_qs(urlsplit(url).query) == {"client_id": ["client-id-123"], "response_type": ["code"],
                                             "state": ["state-1"],
                                             "redirect_uri": ["https://console.example.fr/revolut/oauth/callback/"]}


def test_a_configured_consent_page_wins(revolut):
    revolut.config = {**revolut.config, "consent_url": "https://example.test/confirm"}
    assert oauth.consent_url(revolut, "s").startswith("https://example.test/confirm?")


@pytest.mark.parametrize("base_url", ["https://sandbox-b2b.revolut.com/api/2.0",
                                      "https://sandbox-b2b.revolut.com/api/1.0/"])
def test_the_token_endpoint_is_beside_the_api_whatever_suffix_the_connection_has(db, api, base_url):
    connection = make_connection(base_url)
    api.post(TOKEN_URL, json={"access_token": "a", "refresh_token": "r"})
    oauth.exchange_code(connection, "c")
    assert json.loads(json.dumps(token_calls(api)[0]))["code"] == ["c"]


def test_a_token_request_spends_one_of_the_business_s_sixty_requests_a_minute(revolut, api):
    api.post(TOKEN_URL, json={"access_token": "a", "refresh_token": "r"})
    budget = RequestBudget(str(revolut.pk))
    spent = budget.used()
    oauth.exchange_code(revolut, "c")
    assert budget.used() == spent + 1


# What a token refresh or a new key writes ------------------------------------------------------------------------
def test_a_token_refresh_does_not_undo_a_setting_changed_meanwhile(revolut, api, frozen_now):
    expire(revolut, frozen_now)
    worker_copy = Connection.objects.get(pk=revolut.pk)  # a worker holds the connection as it was
    Connection.objects.filter(pk=revolut.pk).update(config={**revolut.config, "client_id": "client-id-renewed"})
    answer(api, access_token="oa_new", refresh_token="oa_refresh_new", expires_in=2399)
    oauth.ensure_fresh_token(worker_copy)
    stored = Connection.objects.get(pk=revolut.pk)
    assert stored.config["client_id"] == "client-id-renewed"  # the admin's edit survives
    assert stored.oauth_token["access_token"] == "oa_new"


def test_installing_a_key_does_not_undo_a_token_renewed_meanwhile(revolut, frozen_now):
    page_copy = Connection.objects.get(pk=revolut.pk)  # the key page holds the connection as it was
    Connection.objects.filter(pk=revolut.pk).update(
        oauth_token={**revolut.oauth_token, "access_token": "oa_renewed_by_a_worker"},
        token_expires_at=frozen_now + timedelta(minutes=40))
    oauth.install_key(page_copy, private_key_pem())
    stored = Connection.objects.get(pk=revolut.pk)
    assert stored.oauth_token["access_token"] == "oa_renewed_by_a_worker"
    assert stored.token_expires_at == frozen_now + timedelta(minutes=40)
