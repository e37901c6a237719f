"""The Mautic client: Basic and OAuth2, the two configuration refusals named, revoked refresh tokens, the CLI."""

from __future__ import annotations

import base64
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.core.connection_check import check_connection
from apps.core.models import Connection
from apps.mautic.client import ApiDisabled, BasicAuthDisabled, MauticClient

BASE = "https://mautic.example.test"


def envelope(code, message, kind=None):
    return {"errors": [{"code": code, "message": message, "details": [], "type": kind}]}


@pytest.fixture
def basic(db):
    return Connection.objects.create(provider="mautic", name="Mautic", slug="mautic", base_url=BASE,
                                     secrets={"username": "console", "password": "s3cret-password"})


@pytest.fixture
def oauth(db):
    return Connection.objects.create(
        provider="mautic", name="Mautic OAuth", slug="mautic-oauth", base_url=BASE,
        secrets={"client_id": "1_abc", "client_secret": "client-secret-value"},
        oauth_token={"access_token": "old-access-token", "refresh_token": "refresh-token-1"},
        token_status=Connection.TokenStatus.OK, token_expires_at=timezone.now() + timedelta(minutes=30))


def test_basic_auth_header_and_the_keyed_contact_list_with_a_string_total(basic, api):
    api.get(f"{BASE}/api/contacts", json={"total": "2", "contacts": {
        "7": {"id": 7, "fields": {"all": {"email": "a@x.example"}}},
        "3": {"id": 3, "fields": {"all": {"email": "b@x.example"}}}}})
    page = MauticClient(basic).list_contacts(limit=2)
    assert [c["id"] for c in page.contacts] == [7, 3] and page.total == 2 and page.is_last
    sent = api.calls[0].request
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"console:s3cret-password").decode()
    assert "orderBy=id" in sent.url and "limit=2" in sent.url


def test_api_disabled_is_named_in_the_connection_test(basic, api):
    api.get(f"{BASE}/api/contacts", status=403, json=envelope(403, "API disabled.", "api_disabled"))
    with pytest.raises(ApiDisabled):
        MauticClient(basic).ping()
    result = check_connection(basic)
    assert not result.ok
    assert "API de Mautic est désactivée" in result.message


def test_basic_auth_disabled_is_named_in_the_connection_test(basic, api):
    api.get(f"{BASE}/api/contacts", status=403, json=envelope(403, "Access denied", "access_denied"))
    with pytest.raises(BasicAuthDisabled):
        MauticClient(basic).ping()
    assert "authentification Basic est désactivée" in check_connection(basic).message


def test_expired_access_token_is_refreshed_once_and_the_rotated_refresh_token_kept(oauth, api, redis_connection):
    api.get(f"{BASE}/api/contacts", status=401,
            json=envelope(401, "The access token provided has expired.", "invalid_grant"))
    api.get(f"{BASE}/api/contacts", json={"total": "0", "contacts": {}})
    api.post(f"{BASE}/oauth/v2/token", json={"access_token": "new-access-token", "expires_in": 3600,
                                              "token_type": "bearer", "scope": "", "refresh_token": "refresh-token-2"})
    assert MauticClient(oauth).ping().total == 0
    token_call = next(c for c in api.calls if c.request.url.endswith("/oauth/v2/token"))
    assert "grant_type=refresh_token" in token_call.request.body
    assert "refresh_token=refresh-token-1" in token_call.request.body
    assert api.calls[-1].request.headers["Authorization"] == "Bearer new-access-token"
    oauth.refresh_from_db()
    assert oauth.oauth_token["refresh_token"] == "refresh-token-2"


def test_revoked_refresh_token_means_reconnexion_requise_and_no_retry_storm(oauth, api, redis_connection):
    oauth.token_expires_at = timezone.now() - timedelta(minutes=1)
    oauth.save()
    api.post(f"{BASE}/oauth/v2/token", status=400, json={"error": "invalid_grant",
                                                          "error_description": "Invalid refresh token"})
    for _attempt in range(3):
        result = check_connection(oauth)
        assert not result.ok
    oauth.refresh_from_db()
    assert oauth.token_status == Connection.TokenStatus.RECONNECT_REQUIRED
    assert str(oauth.health_label) == "Reconnexion requise"
    assert "Reconnexion" in result.message or "reconnexion" in result.message
    assert len([c for c in api.calls if "oauth/v2/token" in c.request.url]) == 1
    assert not [c for c in api.calls if "/api/" in c.request.url]


def test_rate_limited_answer_is_retried_then_reported_in_french(basic, api):
    for _attempt in range(5):
        api.get(f"{BASE}/api/contacts", status=429,
                json=envelope(429, "You exceeded the rate limit of 10 API calls per hour."))
    result = check_connection(basic)
    assert not result.ok and "limite le nombre d'appels" in result.message


def test_cli_adds_a_mautic_connection_before_its_credentials_are_known_and_tests_it(db, settings, api):
    out = io.StringIO()
    call_command("connection", "add", "mautic", "--name", "Mautic prod", "--base-url", BASE,
                 "--webhook-secret", "whsec-0123456789", "--json", stdout=out)
    created = json.loads(out.getvalue())
    assert created["provider"] == "mautic"
    connection = Connection.objects.get(slug=created["slug"])
    assert connection.token_status == Connection.TokenStatus.NOT_APPLICABLE
    with pytest.raises(CommandError, match="pas encore autorisé"):
        call_command("connection", "test", connection.slug, stdout=io.StringIO())
    connection.secrets = {"username": "u", "password": "p-0123456789"}
    connection.save()
    api.get(f"{BASE}/api/contacts", json={"total": "12", "contacts": {}})
    out = io.StringIO()
    call_command("connection", "test", connection.slug, stdout=out)
    assert "12 contact(s)" in out.getvalue()
    with pytest.raises(CommandError, match="Secret inconnu"):
        call_command("connection", "add", "mautic", "--name", "X", "--secret", "token=abc", stdout=io.StringIO())


def test_wrong_basic_password_is_said_without_echoing_it(basic, api):
    api.get(f"{BASE}/api/contacts", status=401, json=envelope(401, "Invalid credentials s3cret-password",
                                                              "access_denied"))
    result = check_connection(basic)
    assert not result.ok and "refuse l'utilisateur ou le mot de passe" in result.message
    assert "s3cret-password" not in result.message
    basic.refresh_from_db()
    assert "s3cret-password" not in basic.last_error
