"""What a user sees: the quote's DocuSeal panel, the hub page's webhook setup and delivery check, the
live group's permission, and the demo seed."""

import io
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.core import live
from apps.core.models import WebhookEvent
from apps.docuseal.models import SignatureRequest, Signer
from tests.docuseal.test_webhooks import form_event, sign


@pytest.fixture
def browser(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.django_db
def test_the_quote_page_shows_the_send_button_and_the_signature_panel(browser, connection, quote):
    page = browser.get(f"/admin/hub/quote/{quote.pk}/change/").content.decode()
    assert "Envoyer pour signature" in page
    assert "Pas encore envoyé pour signature" in page
    assert 'ws-connect="/ws/live/docuseal.quote.%s/"' % quote.pk in page


@pytest.mark.django_db
def test_a_declined_request_shows_its_reason_on_the_quote(browser, connection, quote):
    request = SignatureRequest.objects.create(connection=connection, quote=quote, submission_id=5, source="template",
                                              status="declined", decline_reason="Budget gelé")
    Signer.objects.create(request=request, submitter_id=9, email="claire@atelier.example", status="declined",
                          decline_reason="Budget gelé")
    page = browser.get(f"/admin/hub/quote/{quote.pk}/change/").content.decode()
    assert "Refusé" in page and "Budget gelé" in page


@pytest.mark.django_db
def test_only_users_who_may_see_quotes_join_the_live_panel_group(quote):
    assert live.permission_for(f"docuseal.quote.{quote.pk}") == "hub.view_quote"


@pytest.mark.django_db
def test_hub_page_shows_what_to_paste_in_docuseal_and_that_a_test_delivery_arrived(browser, connection,
                                                                                   redis_connection):
    page = browser.get("/docuseal/").content.decode()
    assert connection.webhook_url() in page
    assert "form.completed" in page and "submission.expired" in page
    assert "aucune livraison reçue" in page
    assert connection.webhook_secrets[0] not in page  # the HMAC secret is never shown back
    Client().post(connection.webhook_path(), data=form_event("form.completed"), content_type="application/json",
                  headers={"User-Agent": "DocuSeal.com Webhook"})
    page = browser.get("/docuseal/").content.decode()
    assert "livraison de test reçue" in page


@pytest.mark.django_db
def test_pasting_the_hmac_secret_and_generating_a_header_secret(browser, connection, redis_connection):
    response = browser.post("/docuseal/webhooks/hmac-secret/", {"connection": connection.pk, "hmac_secret": "nope"})
    assert response.status_code == 302
    browser.post("/docuseal/webhooks/hmac-secret/", {"connection": connection.pk,
                                                     "hmac_secret": "whsec_bmV3LXNlY3JldC0wMTIzNDU2Nzg5"})
    connection.refresh_from_db()
    assert connection.webhook_secrets == ["whsec_bmV3LXNlY3JldC0wMTIzNDU2Nzg5"]
    browser.post("/docuseal/webhooks/secret-header/", {"connection": connection.pk})
    connection.refresh_from_db()
    value = connection.secret("webhook_header_value")
    first = browser.get("/docuseal/").content.decode()
    assert value in first  # shown once, to paste in DocuSeal's Secret tab
    assert value not in browser.get("/docuseal/").content.decode()
    body = form_event()
    headers = {"X-Docuseal-Signature": sign("whsec_bmV3LXNlY3JldC0wMTIzNDU2Nzg5", int(time.time()), body),
               "X-Console-Docuseal-Secret": value}
    assert Client().post(connection.webhook_path(), data=body, content_type="application/json",
                         headers=headers).status_code == 200


@pytest.mark.django_db
def test_setup_forms_need_the_manage_permission(connection, quote):
    user = User.objects.create_user("lecteur", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    response = client.post("/docuseal/webhooks/hmac-secret/", {"connection": connection.pk,
                                                               "hmac_secret": "whsec_xxxxxxxxxxxxxxxxxxxxxxxx"})
    assert response.status_code == 403
    connection.refresh_from_db()
    assert connection.webhook_secrets != ["whsec_xxxxxxxxxxxxxxxxxxxxxxxx"]


@pytest.mark.django_db
def test_a_forged_webhook_is_visible_as_rejected_in_the_log(browser, connection, redis_connection):
    body = form_event("form.completed")
    response = Client().post(connection.webhook_path(), data=body, content_type="application/json",
                             headers={"X-Docuseal-Signature": sign("whsec_forged-0000000000", int(time.time()), body)})
    assert response.status_code == 401
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.REJECTED
    assert "Rejeté" in browser.get("/docuseal/").content.decode()


@pytest.mark.django_db
def test_demo_seed_makes_a_sandbox_connection_and_a_quote_ready_to_sign(settings):
    settings.SANDBOX = True
    from apps.docuseal.demo import DEMO_QUOTE_NUMBER, seed_demo
    from apps.hub.models import Quote

    for _ in range(2):  # idempotent
        seed_demo(io.StringIO())
    from apps.core.models import Connection

    connection = Connection.objects.get(provider="docuseal")
    assert connection.base_url.endswith("/sandbox/docuseal") and connection.webhook_secrets
    assert connection.config["template_id"]
    quote = Quote.objects.get(number=DEMO_QUOTE_NUMBER)
    assert quote.status == Quote.Status.SENT and quote.company.contacts.exclude(email="").exists()


@pytest.mark.django_db
def test_hub_page_without_connection_says_how_to_add_one_and_lists_quotes_to_sign(browser, quote):
    page = browser.get("/docuseal/").content.decode()
    assert "manage.py connection add docuseal" in page
    assert "D-0042" in page  # a sent quote, waiting to be sent for signature
