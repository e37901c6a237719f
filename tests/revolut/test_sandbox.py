"""The emulator behaves like Revolut where the console depends on it: consent, tokens, errors, limits, states."""

import time
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
from django.test import Client
from django.utils import timezone

from apps.core.http import AuthenticationError, ClientError
from apps.core.models import Connection
from apps.revolut import oauth, sandbox_state
from apps.revolut.client import RevolutClient, error_code
from apps.revolut.sandbox_models import SandboxAccount, SandboxApp, SandboxGrant, SandboxTransaction
from tests.revolut.conftest import SUPPLIER_IBAN

pytestmark = pytest.mark.django_db


def test_consent_page_redirects_back_with_a_code_and_the_state(emulated):
    app = SandboxApp.objects.get()
    query = {"client_id": app.client_id, "redirect_uri": app.redirect_uri, "response_type": "code", "state": "s1"}
    page = Client().get("/sandbox/revolut/app-confirm", query)
    assert page.status_code == 200 and "Autoriser" in page.content.decode()
    answer = Client().post("/sandbox/revolut/app-confirm", {**query, "authorise": "1"})
    assert answer.status_code == 302
    location = urlsplit(answer["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == app.redirect_uri
    assert parse_qs(location.query)["state"] == ["s1"]
    assert parse_qs(location.query)["code"][0].startswith("oa_sand_")


def form_action(response) -> list[str]:
    directives = dict(d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";"))
    return directives["form-action"].split()


def test_the_consent_form_may_end_on_the_registered_redirect_uri_of_another_origin(emulated, settings):
    # The console's own `form-action 'self'` would have the browser block the redirect back to it.
    app = SandboxApp.objects.get()
    app.redirect_uri = "https://console.example.test:8443/revolut/oauth/callback/"
    app.save()
    query = {"client_id": app.client_id, "redirect_uri": app.redirect_uri, "response_type": "code", "state": "s1"}
    page = Client().get("/sandbox/revolut/app-confirm", query)
    assert page.status_code == 200
    assert form_action(page) == ["'self'", "https://console.example.test:8443"]
    assert settings.SECURE_CSP["form-action"] == ["'self'"]  # the console's policy is unchanged
    refused = Client().get("/sandbox/revolut/app-confirm", {**query, "redirect_uri": "https://evil.example/cb"})
    assert refused.status_code == 400 and form_action(refused) == ["'self'"]


def test_consent_page_refuses_a_redirect_uri_that_was_not_registered(emulated):
    app = SandboxApp.objects.get()
    page = Client().get("/sandbox/revolut/app-confirm", {"client_id": app.client_id, "response_type": "code",
                                                         "redirect_uri": "https://evil.example/cb"})
    assert page.status_code == 400


def test_the_code_exchange_gave_40_minute_sandbox_tokens(emulated):
    assert emulated.token_status == Connection.TokenStatus.OK
    assert emulated.oauth_token["access_token"].startswith("oa_sand_")
    assert timedelta(minutes=39) < emulated.token_expires_at - timezone.now() <= timedelta(seconds=2399)
    assert [a["currency"] for a in RevolutClient(emulated).list_accounts()] == ["EUR", "GBP"]


def test_a_refresh_revokes_the_previous_access_token(emulated):
    old_token = emulated.oauth_token["access_token"]
    oauth.ensure_fresh_token(emulated, rejected_token=old_token)
    assert emulated.oauth_token["access_token"] != old_token
    assert emulated.oauth_token["refresh_token"]  # kept: the refresh answer carries none
    response = Client().get("/sandbox/revolut/api/1.0/accounts", headers={"Authorization": f"Bearer {old_token}"})
    assert response.status_code == 401
    assert response.json() == {"message": "The request should be authorized."}


def test_a_revoked_consent_turns_the_connection_to_reconnect_required(emulated):
    SandboxGrant.objects.update(revoked=True)
    Connection.objects.filter(pk=emulated.pk).update(token_expires_at=timezone.now())
    emulated.refresh_from_db()
    with pytest.raises(AuthenticationError):
        RevolutClient(emulated).list_accounts()
    emulated.refresh_from_db()
    assert emulated.token_status == Connection.TokenStatus.RECONNECT_REQUIRED


def test_token_endpoint_checks_the_assertion(emulated, settings):
    app = SandboxApp.objects.get()
    key = emulated.secret("private_key_pem")

    def token(claims):
        form = urlencode({
            "grant_type": "refresh_token", "refresh_token": emulated.oauth_token["refresh_token"],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode(claims, key, algorithm="RS256")})
        return Client().post("/sandbox/revolut/api/1.0/auth/token", form,
                             content_type="application/x-www-form-urlencoded")

    good = {"iss": "testserver", "sub": app.client_id, "aud": "https://revolut.com", "exp": int(time.time()) + 60}
    assert token({**good, "iss": "other.example"}).json()["error"] == "unauthorized_client"
    assert token({**good, "sub": "oa_sand_not_the_client_id"}).json()["error"] == "unauthorized_client"
    expired = token({**good, "exp": int(time.time()) - 60})
    assert expired.json()["error"] == "invalid_request" and "has expired" in expired.json()["error_description"]
    assert token(good).status_code == 200


def test_over_60_requests_a_minute_answers_429_code_3162(emulated, settings):
    settings.REVOLUT_SANDBOX_RATE_LIMIT = 2
    headers = {"Authorization": f"Bearer {emulated.oauth_token['access_token']}"}
    statuses = [Client().get("/sandbox/revolut/api/1.0/accounts", headers=headers) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[-1].json()["code"] == 3162 and int(statuses[-1]["Retry-After"]) > 0


def pay_body(account, counterparty, request_id="r-1", amount=100):
    return {"request_id": request_id, "account_id": str(account.id), "amount": amount, "currency": "EUR",
            "receiver": {"counterparty_id": str(counterparty.id)}, "reference": "F-1"}


def test_pay_duplicates_revtag_counterparties_and_bad_ibans_answer_like_revolut(emulated):
    client = RevolutClient(emulated)
    account = SandboxAccount.objects.get(currency="EUR")
    counterparty = sandbox_state.ensure_bank_counterparty("Imprimerie", SUPPLIER_IBAN, "AGRIFRPP", "EUR", "FR")
    first = client.post("pay", json=pay_body(account, counterparty)).json()
    assert first["state"] == "pending"
    with pytest.raises(ClientError) as duplicate:
        client.post("pay", json=pay_body(account, counterparty))
    assert (duplicate.value.status, error_code(duplicate.value)) == (400, 3020)

    john = {"profile_type": "personal", "name": "Test User 1", "revtag": "john1pvki"}
    created = client.create_counterparty(john)
    with pytest.raises(ClientError) as exists:
        client.create_counterparty(john)
    assert error_code(exists.value) == 3012 and exists.value.payload["params"]["counterparty_id"] == created["id"]
    with pytest.raises(ClientError) as bad_iban:
        client.create_counterparty({"company_name": "ACME", "bank_country": "FR", "currency": "EUR",
                                    "iban": SUPPLIER_IBAN[:-1] + "8"})
    assert error_code(bad_iban.value) == 3000


def test_transactions_filter_by_request_id_only_with_from_and_complete_moves_the_balance(emulated):
    client = RevolutClient(emulated)
    account = SandboxAccount.objects.get(currency="EUR")
    counterparty = sandbox_state.ensure_bank_counterparty("Imprimerie", SUPPLIER_IBAN, "AGRIFRPP", "EUR", "FR")
    paid = client.post("pay", json=pay_body(account, counterparty, "r-2", 250)).json()
    with pytest.raises(ClientError):
        client.list_transactions(request_id="r-2")
    found = client.list_transactions(request_id="r-2", from_=timezone.now() - timedelta(days=1))
    assert [t["id"] for t in found] == [paid["id"]]
    assert client.get_account(str(account.id))["balance"] == 25000.0  # pending: not yet debited
    client.simulate_transaction(paid["id"], "complete")
    tx = client.get_transaction(paid["id"])
    assert tx["state"] == "completed" and tx["legs"][0]["balance"] == 24750.0
    assert SandboxAccount.objects.get(pk=account.pk).balance == Decimal("24750.00")


def test_pending_payments_complete_by_themselves_after_the_configured_delay(emulated, settings):
    settings.REVOLUT_SANDBOX_COMPLETION_SECONDS = 0
    account = SandboxAccount.objects.get(currency="EUR")
    counterparty = sandbox_state.ensure_bank_counterparty("Imprimerie", SUPPLIER_IBAN, "AGRIFRPP", "EUR", "FR")
    tx = sandbox_state.create_payment(account=account, counterparty=counterparty,
                                      receiver_account=counterparty.accounts[0], amount=Decimal("10"),
                                      currency="EUR", reference="F-2", request_id="r-3")
    assert tx.state == "pending"
    RevolutClient(emulated).list_accounts()  # any API request first moves what is due
    assert SandboxTransaction.objects.get(pk=tx.pk).state == "completed"


def test_webhooks_v2_registration_and_rotation_keep_up_to_three_secrets(emulated):
    from apps.revolut import webhook_registration

    info = webhook_registration.register(emulated)
    assert info["url"] == emulated.webhook_url() and info["events"] == ["TransactionCreated", "TransactionStateChanged"]
    assert emulated.webhook_secrets[0].startswith("wsk_")
    first = emulated.webhook_secrets[0]
    webhook_registration.rotate(emulated, "P1D")
    assert len(emulated.webhook_secrets) == 2 and emulated.webhook_secrets[1] == first
    remote = RevolutClient(emulated).get_webhook(info["id"])
    assert remote["signing_secret"] == emulated.webhook_secrets[0]
    assert webhook_registration.register(emulated)["id"] == info["id"]  # idempotent


def test_sandbox_is_404_when_switched_off(emulated, settings):
    settings.SANDBOX = False
    assert Client().get("/sandbox/revolut/").status_code == 404


def test_the_human_page_lists_pending_transactions_with_their_buttons(emulated):
    account = SandboxAccount.objects.get(currency="EUR")
    counterparty = sandbox_state.ensure_bank_counterparty("Imprimerie", SUPPLIER_IBAN, "AGRIFRPP", "EUR", "FR")
    tx = sandbox_state.create_payment(account=account, counterparty=counterparty,
                                      receiver_account=counterparty.accounts[0], amount=Decimal("10"),
                                      currency="EUR", reference="F-3", request_id="r-4")
    page = Client().get("/sandbox/revolut/").content.decode()
    assert "Compléter" in page and "Refuser" in page and "F-3" in page
    Client().post(f"/sandbox/revolut/ui/transactions/{tx.id}/complete")
    assert SandboxTransaction.objects.get(pk=tx.pk).state == "completed"
