"""The DocuSeal client: where the API lives, whose key it is, which edition answers, errors a user reads."""

import json

import pytest
import responses
from django.core.management import call_command

from apps.core.connection_check import check_connection
from apps.core.http import AuthenticationError
from apps.core.models import Connection
from apps.docuseal.client import DocusealClient, ProEditionRequired, api_base
from tests.docuseal.conftest import API_KEY

PRO_404 = {"status": 404, "message": "This feature is available in Pro Edition: https://www.docuseal.com/pricing"}


@pytest.mark.parametrize("instance, api", [
    ("https://docuseal.com", "https://api.docuseal.com"),
    ("https://www.docuseal.com/", "https://api.docuseal.com"),
    ("https://api.docuseal.com", "https://api.docuseal.com"),
    ("https://docuseal.eu", "https://api.docuseal.eu"),
    ("https://console.docuseal.eu/settings", "https://api.docuseal.eu"),
    ("https://sign.example.test", "https://sign.example.test/api"),
    ("https://sign.example.test/", "https://sign.example.test/api"),
    ("https://sign.example.test/api", "https://sign.example.test/api"),
    ("http://127.0.0.1:8001/sandbox/docuseal", "http://127.0.0.1:8001/sandbox/docuseal/api"),
    ("https://docuseal.com.attacker.test", "https://docuseal.com.attacker.test/api"),
])
def test_the_api_root_follows_from_the_instance_url(instance, api):
    assert api_base(instance) == api


@responses.activate
def test_connection_test_says_whose_key_it_is_with_the_key_in_x_auth_token(connection):
    responses.get("https://sign.example.test/api/user",
                  json={"id": 1, "first_name": "Camille", "last_name": "Durand", "email": "camille@example.test"})
    result = check_connection(connection)
    assert result.ok
    assert "Camille Durand <camille@example.test>" in result.message
    assert "auto-hébergé" in result.message
    assert responses.calls[0].request.headers["X-Auth-Token"] == API_KEY


@responses.activate
def test_a_refused_key_is_a_readable_failure_without_the_key(connection):
    responses.get("https://sign.example.test/api/user", json={"error": "Not authenticated"}, status=401)
    result = check_connection(connection)
    assert not result.ok
    assert "Not authenticated" in result.message and API_KEY not in result.message
    connection.refresh_from_db()
    assert connection.consecutive_failures == 1


@responses.activate
def test_hosted_connection_calls_the_api_host_without_prefix(db):
    connection = Connection.objects.create(provider="docuseal", name="Hébergé", slug="ds-eu",
                                           base_url="https://docuseal.eu", secrets={"api_key": API_KEY})
    responses.get("https://api.docuseal.eu/user", json={"id": 3, "first_name": "A", "last_name": "B", "email": "a@b.c"})
    assert "DocuSeal hébergé" in check_connection(connection).message


@responses.activate
def test_the_pro_edition_404_is_recognised_and_a_plain_404_is_not(connection):
    responses.post("https://sign.example.test/api/submissions/pdf", json=PRO_404, status=404)
    with pytest.raises(ProEditionRequired):
        DocusealClient(connection).create_submission_from_pdf({"documents": [], "submitters": []})
    responses.get("https://sign.example.test/api/submissions/9", json={"status": 404}, status=404)
    with pytest.raises(Exception) as caught:
        DocusealClient(connection).get_submission(9)
    assert not isinstance(caught.value, ProEditionRequired)


@responses.activate
def test_file_downloads_never_carry_the_api_key_to_another_host(connection):
    responses.get("https://files.example.test/signed.pdf", body=b"%PDF-1.4 signed")
    assert DocusealClient(connection).download("https://files.example.test/signed.pdf") == b"%PDF-1.4 signed"
    assert "X-Auth-Token" not in responses.calls[0].request.headers


@responses.activate
def test_listing_reads_data_and_the_next_cursor(connection):
    responses.get("https://sign.example.test/api/submitters",
                  json={"data": [{"id": 5, "submission_id": 2}], "pagination": {"count": 1, "next": 5, "prev": 5}})
    listing = DocusealClient(connection).list_submitters(external_id="console-quote-1-run-1-0")
    assert listing.items[0]["submission_id"] == 2 and listing.next_cursor == 5
    assert "external_id=console-quote-1-run-1-0" in responses.calls[0].request.url


def test_connection_add_docuseal_from_the_command_line(db, capsys):
    call_command("connection", "add", "docuseal", "--name", "DocuSeal prod", "--base-url", "https://sign.example.test",
                 "--secret", f"api_key={API_KEY}", "--webhook-secret", "whsec_abcdefghijklmnopqrstuv", "--json")
    described = json.loads(capsys.readouterr().out)
    connection = Connection.objects.get(provider="docuseal")
    assert described["provider"] == "docuseal"
    assert connection.secret("api_key") == API_KEY and connection.webhook_secrets == ["whsec_abcdefghijklmnopqrstuv"]
    assert API_KEY not in json.dumps(described)


def test_an_unknown_secret_name_is_refused_by_the_command(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="api_key"):
        call_command("connection", "add", "docuseal", "--name", "X", "--secret", "token=abc")


@responses.activate
def test_authentication_errors_are_typed(connection):
    responses.get("https://sign.example.test/api/user", json={"error": "Not authenticated"}, status=401)
    with pytest.raises(AuthenticationError):
        DocusealClient(connection).get_user()
