"""The DocuSeal emulator behaves like DocuSeal where the console depends on it."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.docuseal.sandbox import state
from apps.docuseal.sandbox.models import SandboxAccount, SandboxDelivery

API = "/sandbox/docuseal/api"


@pytest.fixture
def account(db, settings):
    settings.SANDBOX = True
    settings.DOCUSEAL_SANDBOX_BACKGROUND_DELIVERY = False
    return state.new_account(edition=SandboxAccount.Edition.OPEN_SOURCE)


def call(account, method, path, body=None):
    client = Client()
    return getattr(client, method)(API + path, data=json.dumps(body) if body is not None else None,
                                   content_type="application/json", headers={"X-Auth-Token": account.api_key})


def test_both_creation_forms_answer_differently(account):
    template = state.acceptance_template(account)
    body = {"template_id": template.pk, "submitters": [{"email": "a@example.test", "values": {"Client": "A"}}]}
    created = call(account, "post", "/submissions", body).json()
    assert isinstance(created, list) and created[0]["submission_id"] and created[0]["embed_src"].endswith(
        created[0]["slug"])
    init = call(account, "post", "/submissions/init", body).json()
    assert set(init) == {"id", "submitters", "expire_at", "created_at"} and init["submitters"][0]["email"]


def test_pro_only_paths_answer_the_open_source_404(account):
    response = call(account, "post", "/submissions/pdf", {"documents": [], "submitters": []})
    assert response.status_code == 404 and "Pro Edition" in response.json()["message"]
    account.edition = SandboxAccount.Edition.PRO
    account.save()
    assert call(account, "post", "/submissions/pdf", {"documents": [], "submitters": []}).status_code == 422


def test_errors_are_shaped_like_docuseal(account):
    assert Client().get(API + "/user").json() == {"error": "Not authenticated"}
    assert call(account, "get", "/submissions/999").json() == {"status": 404}
    assert call(account, "post", "/submissions", {"template_id": 999, "submitters": []}).json() == {
        "error": "Template not found"}


def test_file_urls_expire_after_forty_minutes(account, settings):
    template = state.acceptance_template(account)
    submission = state.create_submission("http://testserver/sandbox/docuseal", account, template=template,
                                         submitters=[{"email": "a@example.test"}])
    submission.submitters.update(completed_at=timezone.now())
    url = state.file_url("http://testserver/sandbox/docuseal", submission, "document")
    assert Client().get(url).content.startswith(b"%PDF")
    settings.DOCUSEAL_SANDBOX_FILE_URL_SECONDS = -1  # as if 40 minutes had passed
    assert Client().get(url).status_code == 404


@pytest.mark.parametrize("status, delivered", [(200, True), (302, True), (404, False), (500, False)])
def test_a_redirect_counts_as_delivered_like_docuseal(account, monkeypatch, status, delivered,
                                                     django_capture_on_commit_callbacks):
    account.webhook_url = "https://console.example.test/hooks/docuseal/x/"
    account.save()
    monkeypatch.setattr(state, "_post", lambda delivery: status)
    monkeypatch.setattr(state, "minute_seconds", lambda: 0)
    with django_capture_on_commit_callbacks(execute=True):
        state.announce("http://testserver", account, "form.viewed", {"id": 1})
    delivery = SandboxDelivery.objects.get()
    assert (delivery.state == "delivered") is delivered
    if not delivered:
        assert delivery.attempts == 12  # MAX_ATTEMPTS 10: the first try and 11 more


def test_form_completed_is_retried_longer(account, monkeypatch, django_capture_on_commit_callbacks):
    account.webhook_url = "https://console.example.test/hooks/docuseal/x/"
    account.save()
    monkeypatch.setattr(state, "_post", lambda delivery: 503)
    monkeypatch.setattr(state, "minute_seconds", lambda: 0)
    with django_capture_on_commit_callbacks(execute=True):
        state.announce("http://testserver", account, "form.completed", {"id": 1})
    assert SandboxDelivery.objects.get().attempts == 14


def test_signed_deliveries_carry_the_documented_signature(account, monkeypatch, django_capture_on_commit_callbacks):
    sent = {}

    class Answer:
        status_code = 200

    def fake_post(url, data, headers, timeout, allow_redirects):
        sent.update(headers=headers, body=data)
        return Answer()

    account.webhook_url = "https://console.example.test/hooks/docuseal/x/"
    account.save()
    monkeypatch.setattr(state.requests, "post", fake_post)
    with django_capture_on_commit_callbacks(execute=True):
        state.announce("http://testserver", account, "form.viewed", {"id": 1})
    timestamp, _, signature = sent["headers"]["X-Docuseal-Signature"].partition(".")
    assert state.sign_body(account.hmac_secret, timestamp, sent["body"]) == sent["headers"]["X-Docuseal-Signature"]
    assert sent["headers"]["User-Agent"] == "DocuSeal.com Webhook" and len(signature) == 64
    with django_capture_on_commit_callbacks(execute=True):
        state.send_test_delivery("http://testserver", account)
    assert "X-Docuseal-Signature" not in sent["headers"]  # the settings page's test is unsigned


def test_expiry_is_announced_once(account):
    account.webhook_url = "https://console.example.test/hooks/docuseal/x/"
    account.save()
    template = state.acceptance_template(account)
    state.create_submission("http://testserver", account, template=template,
                            submitters=[{"email": "a@example.test"}], expire_at=timezone.now() - timedelta(minutes=1))
    for _ in range(2):
        call(account, "get", "/submissions")
    assert SandboxDelivery.objects.filter(event_type="submission.expired").count() == 1
