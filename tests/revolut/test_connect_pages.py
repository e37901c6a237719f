"""The connect flow pages: key and certificate, consent start, and a callback that checks its state."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from django.test import Client
from django.test.html import parse_html
from django.utils import timezone

from apps.core.models import Connection
from apps.revolut import oauth
from apps.revolut.views import SESSION_KEY
from tests.revolut.conftest import user_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(user_with("admin", "manage_connections", "view_console"))
    return client


@pytest.fixture
def fresh_connection():
    return Connection.objects.create(provider="revolut", name="Revolut", slug="revolut",
                                     base_url="https://sandbox-b2b.revolut.com",
                                     token_status=Connection.TokenStatus.MISSING)


def test_generate_key_then_download_the_certificate_whose_fingerprint_is_shown(admin_client, fresh_connection):
    admin_client.post(f"/revolut/connect/{fresh_connection.pk}/", {"step": "generate_key"})
    fresh_connection.refresh_from_db()
    assert "BEGIN PRIVATE KEY" in fresh_connection.secret("private_key_pem")
    page = admin_client.get(f"/revolut/connect/{fresh_connection.pk}/").content.decode()
    assert fresh_connection.secret("private_key_pem").splitlines()[1] not in page  # never rendered back
    download = admin_client.get(f"/revolut/connect/{fresh_connection.pk}/certificate.cer")
    certificate = x509.load_pem_x509_certificate(download.content)
    assert oauth.certificate_fingerprint(download.content.decode()) in page
    assert certificate.public_key().public_numbers() == oauth.load_private_key(
        fresh_connection.secret("private_key_pem")).public_key().public_numbers()


def test_an_unreadable_uploaded_key_gets_a_french_message(admin_client, fresh_connection):
    response = admin_client.post(f"/revolut/connect/{fresh_connection.pk}/",
                                 {"step": "upload_key", "private_key_pem": "pas une clé"}, follow=True)
    assert "Clé privée illisible" in response.content.decode()


def ready_for_consent(connection):
    oauth.install_key(connection, oauth.generate_private_key_pem())
    connection.config = {**connection.config, "client_id": "cid"}
    connection.save()


def test_connect_revolut_is_a_link_to_the_consent_start_not_a_form(admin_client, fresh_connection):
    # A form posting to the console and redirected to Revolut's origin is blocked by `form-action 'self'`.
    ready_for_consent(fresh_connection)
    start = f"/revolut/connect/{fresh_connection.pk}/consent/"
    page = admin_client.get(f"/revolut/connect/{fresh_connection.pk}/").content.decode()
    assert parse_html(f'<a class="button default" href="{start}">Connecter Revolut</a>') in parse_html(page)
    assert not re.search(r"<form\b(?:(?!</form>).)*Connecter Revolut", page, re.S)


def test_the_consent_start_redirects_to_revolut_with_client_id_redirect_uri_and_state(
    admin_client, fresh_connection
):
    ready_for_consent(fresh_connection)
    response = admin_client.get(f"/revolut/connect/{fresh_connection.pk}/consent/")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", "sandbox-business.revolut.com",
                                                                 "/app-confirm")
    query = parse_qs(location.query)
    pending = admin_client.session[SESSION_KEY]
    assert query["client_id"] == ["cid"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [oauth.redirect_uri()]
    assert query["state"] == [pending["state"]] and len(pending["state"]) >= 32
    assert pending["connection"] == fresh_connection.pk


def test_the_consent_cannot_start_before_the_key_and_client_id(admin_client, fresh_connection):
    response = admin_client.get(f"/revolut/connect/{fresh_connection.pk}/consent/", follow=True)
    assert response.redirect_chain == [(f"/revolut/connect/{fresh_connection.pk}/", 302)]
    assert "Générez la clé et saisissez le ClientID" in response.content.decode()
    assert SESSION_KEY not in admin_client.session
    assert "/consent/" not in response.content.decode()  # no link to a start that would refuse


def test_the_pages_need_the_manage_connections_permission(fresh_connection):
    client = Client()
    client.force_login(user_with("comptable", "view_console", "pay_suppliers"))
    assert client.get(f"/revolut/connect/{fresh_connection.pk}/").status_code == 403
    assert client.get(f"/revolut/connect/{fresh_connection.pk}/certificate.cer").status_code == 403
    assert client.get(f"/revolut/connect/{fresh_connection.pk}/consent/").status_code == 403
    assert SESSION_KEY not in client.session


def start_consent(client, connection, started_at=None):
    session = client.session
    session[SESSION_KEY] = {"state": "expected-state", "connection": connection.pk,
                            "started_at": (started_at or timezone.now()).isoformat()}
    session.save()


def test_a_callback_with_a_wrong_state_is_refused(admin_client, fresh_connection, api):
    start_consent(admin_client, fresh_connection)
    response = admin_client.get("/revolut/oauth/callback/", {"code": "oa_sand_x", "state": "forged"})
    assert response.status_code == 400 and "state invalide" in response.content.decode()
    assert len(api.calls) == 0


def test_without_state_only_a_callback_within_two_minutes_of_this_session_is_accepted(
    admin_client, fresh_connection, api
):
    start_consent(admin_client, fresh_connection, started_at=timezone.now() - timedelta(minutes=3))
    response = admin_client.get("/revolut/oauth/callback/", {"code": "oa_sand_x"})
    assert response.status_code == 400 and "trop tardif" in response.content.decode()
    assert len(api.calls) == 0
    assert Client().get("/revolut/oauth/callback/", {"code": "oa_sand_x"}).status_code == 302  # anonymous: login
