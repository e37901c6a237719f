"""The emulator keeps Mautic 5.1.1's shapes and quirks, and the console's OAuth2 connection works against it."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.models import Connection, WebhookEvent
from apps.mautic.client import MauticClient
from apps.mautic.sandbox import delivery, records
from apps.mautic.sandbox.state import SandboxToken
from tests.mautic.conftest import EMULATOR, make_connection


def basic(inst) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{inst.username}:{inst.password}".encode()).decode()}


@pytest.fixture
def sandbox(settings, instance):
    settings.SANDBOX = True
    return instance


def call(method, path, inst, body=None, **extra):
    return Client().generic(method, f"/sandbox/mautic/api/{path}", data=json.dumps(body) if body is not None else "",
                            content_type="application/json", headers={**basic(inst), **extra})


def test_contacts_new_is_an_upsert_by_email_and_lists_are_keyed_by_id(sandbox):
    first = call("POST", "contacts/new", sandbox, {"email": "Jane@Example.com", "firstname": "Jane"})
    assert first.status_code == 201 and first["Mautic-Version"] == "5.1.1"
    again = call("POST", "contacts/new", sandbox, {"email": "jane@example.com", "lastname": "Doe"})
    assert again.status_code == 200
    assert again.json()["contact"]["id"] == first.json()["contact"]["id"]
    listing = call("GET", "contacts?start=0&limit=10", sandbox).json()
    assert listing["total"] == "1" and list(listing["contacts"]) == [str(first.json()["contact"]["id"])]
    assert listing["contacts"][str(first.json()["contact"]["id"])]["fields"]["all"]["lastname"] == "Doe"


def test_patch_on_a_missing_contact_is_a_404_in_the_error_envelope(sandbox):
    response = call("PATCH", "contacts/999/edit", sandbox, {"firstname": "X"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == 404


def test_api_and_basic_auth_switched_off_answer_like_mautic(sandbox):
    sandbox.basic_auth_enabled = False
    sandbox.save()
    refused = call("GET", "contacts", sandbox)
    assert refused.status_code == 403 and refused.json()["errors"][0]["type"] == "access_denied"
    sandbox.api_enabled = False
    sandbox.save()
    refused = call("GET", "contacts", sandbox)
    assert refused.status_code == 403 and refused.json()["errors"][0]["type"] == "api_disabled"


def test_single_send_ignores_do_not_contact_like_the_real_one(sandbox):
    contact = records.create(sandbox, "contact", {"fields": {"email": "dnc@example.com"}, "dnc": []})
    records.add_dnc(contact, 1)
    email = records.objects(sandbox, "email").first()
    response = call("POST", f"emails/{email.pk}/contact/{contact.pk}/send", sandbox,
                    {"tokens": {"invoice_number": "F-1"}})
    assert response.json() == {"success": True}
    stat = records.objects(sandbox, "stat").get()
    assert "F-1" in stat.data["subject"]  # a key without braces is wrapped, as Mautic does


def test_queued_webhooks_go_in_signed_batches_and_are_never_retried(wire, sandbox, django_capture_on_commit_callbacks):
    connection = make_connection()
    sandbox.queue_mode = "command_process"
    sandbox.webhook_limit = 2
    sandbox.save()
    client = MauticClient(connection)
    with django_capture_on_commit_callbacks(execute=True):
        from apps.mautic.webhook_registration import register_webhook

        register_webhook(connection)
        for index in range(3):
            client.upsert_contact({"email": f"lead{index}@example.com"})
    assert records.objects(sandbox, "queue").count() == 3
    with django_capture_on_commit_callbacks(execute=True):
        statuses = delivery.process_queue(sandbox)
    assert statuses == [200, 200]  # 2 + 1 events
    bodies = [bytes(e.body) for e in WebhookEvent.objects.order_by("pk")]
    assert len(json.loads(bodies[0])["mautic.lead_post_save_new"]) == 2
    assert not records.objects(sandbox, "queue").exists()
    # A receiver answering 500: the events are gone all the same (no retry in 5.1.1).
    connection.webhook_secrets = ["another-secret-0123456789"]
    connection.save()
    with django_capture_on_commit_callbacks(execute=True):
        client.upsert_contact({"email": "lost@example.com"})
        assert delivery.process_queue(sandbox) == [401]
    assert not records.objects(sandbox, "queue").exists()


def test_oauth2_connection_through_the_console_pages_then_calls_with_a_bearer(wire, sandbox, admin_client,
                                                                               redis_connection):
    connection = Connection.objects.create(provider="mautic", name="Mautic OAuth", slug="mautic-oauth",
                                           base_url=EMULATOR, secrets={"client_id": sandbox.oauth_client_id,
                                                                       "client_secret": sandbox.oauth_client_secret})
    start = admin_client.get(f"/mautic/connect/{connection.pk}/")
    assert start.status_code == 302
    authorize = urlsplit(start["Location"])
    assert authorize.path == "/sandbox/mautic/oauth/v2/authorize"
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert query["grant_type"] == "authorization_code" and query["response_type"] == "code"
    consent = Client().post(authorize.path, {**query, "decision": "accept"})
    callback = urlsplit(consent["Location"])
    done = admin_client.get(callback.path + "?" + callback.query)
    assert done.status_code == 302, done.content
    connection.refresh_from_db()
    assert connection.token_status == Connection.TokenStatus.OK
    assert MauticClient(connection).ping().total == 0

    # The access token expires: refreshed once, rotated; then the refresh token is revoked -> reconnect.
    SandboxToken.objects.filter(kind="access").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert MauticClient(connection).ping().total == 0
    connection.refresh_from_db()
    assert SandboxToken.objects.filter(kind="refresh", revoked=True).count() == 1
    SandboxToken.objects.update(revoked=True)
    connection.token_expires_at = timezone.now() - timedelta(seconds=1)
    connection.save()
    from apps.core.connection_check import check_connection

    assert not check_connection(connection).ok
    connection.refresh_from_db()
    assert connection.token_status == Connection.TokenStatus.RECONNECT_REQUIRED


def test_a_forged_callback_state_is_refused(wire, sandbox, admin_client):
    connection = Connection.objects.create(provider="mautic", name="M", slug="m", base_url=EMULATOR,
                                           secrets={"client_id": sandbox.oauth_client_id, "client_secret": "x"})
    admin_client.get(f"/mautic/connect/{connection.pk}/")
    response = admin_client.get("/mautic/oauth/callback/?code=abc&state=forged")
    assert response.status_code == 400 and "state invalide" in response.content.decode()


def test_the_inbox_page_lets_a_person_open_click_and_unsubscribe(connection, overdue, instance,
                                                                  django_capture_on_commit_callbacks):
    from apps.mautic import contacts
    from apps.mautic.models import ContactLink, EmailActivity

    link = contacts.push(connection, MauticClient(connection), overdue.company.contacts.get())
    email = records.objects(instance, "email").first()
    with django_capture_on_commit_callbacks(execute=True):
        MauticClient(connection).send_email_to_contact(email.pk, link.mautic_id, {"{invoice_number}": "F-9"})
    stat = records.objects(instance, "stat").get()
    page = Client().get("/sandbox/mautic/")
    assert "Ouvrir l'e-mail" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(f"/sandbox/mautic/inbox/{stat.pk}/click/")
        Client().post(f"/sandbox/mautic/contacts/{link.mautic_id}/unsubscribe/")
    from apps.core.webhooks.processing import process_event

    for event in WebhookEvent.objects.all():
        process_event(event.pk)
    assert set(EmailActivity.objects.values_list("kind", flat=True)) == {"sent", "clicked", "unsubscribed"}
    assert ContactLink.objects.get(pk=link.pk).unsubscribed


def test_rate_limit_answers_429_in_the_envelope(sandbox):
    sandbox.rate_limit = 2
    sandbox.save()
    statuses = [call("GET", "segments", sandbox).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert "rate limit of 2 API calls per hour" in call("GET", "segments", sandbox).json()["errors"][0]["message"]
