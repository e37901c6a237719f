"""The Invoice Ninja emulator: vendor status codes, envelope, quirks and webhook deliveries."""

import json
import re
import time

import pytest
import responses
from django.test import Client

from apps.invoiceninja import sandbox
from apps.invoiceninja.sandbox_state import SandboxAccount, SandboxRecord

API = "/sandbox/invoiceninja/api/v1"
TARGET = "https://console.example.test/hooks/invoiceninja/abc/"


@pytest.fixture
def account(db, settings):
    settings.SANDBOX = True
    return SandboxAccount.objects.create(name="Sandbox SARL", api_token="sandbox-token-123")


@pytest.fixture
def api(account):
    client = Client(headers={"X-API-TOKEN": "sandbox-token-123", "X-Requested-With": "XMLHttpRequest"})

    def call(method, path, body=None, **kwargs):
        data = json.dumps(body) if body is not None else None
        return getattr(client, method)(f"{API}/{path}", data=data, content_type="application/json", **kwargs)

    return call


def make_client(api, **extra):
    body = {"name": "Atelier", "contacts": [{"email": "claire@atelier.example", "send_email": True}], **extra}
    return api("post", "clients", body).json()["data"]


def make_quote(api, client_id):
    return api("post", "quotes", {"client_id": client_id, "date": "2026-01-01", "due_date": "2099-01-01",
                                  "line_items": [{"notes": "Conseil", "quantity": 2, "cost": 100.05,
                                                  "tax_rate1": 20}]}).json()["data"]


def test_disabled_sandbox_answers_404(db, settings):
    settings.SANDBOX = False
    assert Client().get(f"{API}/ping").status_code == 404


def test_a_bad_token_is_the_vendors_403(account):
    response = Client(headers={"X-API-TOKEN": "nope"}).get(f"{API}/clients")
    assert response.status_code == 403
    assert response.json() == {"message": "Invalid token", "errors": {}}


def test_create_answers_200_with_a_hashed_id_and_an_unknown_id_is_400(api):
    response = api("post", "clients", {"name": "Atelier"})
    assert response.status_code == 200
    client_id = response.json()["data"]["id"]
    assert re.fullmatch(r"[A-Za-z0-9]{10}", client_id) and not client_id.isdigit()
    assert api("get", "clients/unknown123").status_code == 400


def test_validation_errors_have_the_vendor_shape_and_need_a_json_request(api, account):
    response = api("post", "quotes", {"date": "01/02/2026"})
    assert response.status_code == 422
    assert response.json() == {"message": "The given data was invalid.",
                               "errors": {"client_id": ["The client id field is required."]}}
    plain = Client(headers={"X-API-TOKEN": "sandbox-token-123"}).post(f"{API}/quotes", data="{}",
                                                                       content_type="application/json")
    assert plain.status_code == 302  # what Laravel does for a request that does not expect JSON


def test_unknown_routes_and_verbs_answer_the_vendors_404s(api):
    assert api("get", "nothing").json() == {"message": "Route does not exist"}
    assert api("patch", "clients").json() == {"message": "Method not supported for this route"}


def test_quote_amounts_are_computed_and_status_ids_are_strings(api):
    quote = make_quote(api, make_client(api)["id"])
    assert (quote["amount"], quote["total_taxes"], quote["status_id"]) == (240.12, 40.02, "1")
    assert quote["invitations"][0]["key"]


def test_lists_include_archived_and_deleted_rows_unless_status_is_given(api):
    ids = [make_client(api, name=f"C{i}")["id"] for i in range(3)]
    api("post", "clients/bulk", {"action": "archive", "ids": [ids[1]]})
    api("delete", f"clients/{ids[2]}")
    everything = api("get", "clients?sort=id|asc").json()
    assert [c["id"] for c in everything["data"]] == ids
    assert everything["meta"]["pagination"]["total"] == 3
    active = api("get", "clients?status=active").json()["data"]
    assert [c["id"] for c in active] == [ids[0]]
    deleted = api("get", "clients?status=deleted").json()["data"][0]
    assert deleted["is_deleted"] is True and deleted["archived_at"] > 0


def test_pagination_meta_and_updated_at_filter(api):
    for i in range(3):
        make_client(api, name=f"C{i}")
    SandboxRecord.objects.filter(data__name="C0").update(updated_at=100)
    page = api("get", "clients?per_page=1&page=2&sort=updated_at|asc&updated_at=101").json()
    assert page["meta"]["pagination"] == {
        "total": 2, "count": 1, "per_page": 1, "current_page": 2, "total_pages": 2,
        "links": {"previous": page["meta"]["pagination"]["links"]["previous"]}}
    assert page["data"][0]["name"] == "C2"


def test_identical_invoice_bulk_actions_within_a_second_are_refused(api):
    client_id = make_client(api)["id"]
    invoice = api("post", "invoices", {"client_id": client_id, "line_items": [{"cost": 10, "quantity": 1}]}).json()
    ids = [invoice["data"]["id"]]
    assert api("post", "invoices/bulk", {"action": "mark_sent", "ids": ids}).status_code == 200
    second = api("post", "invoices/bulk", {"action": "mark_sent", "ids": ids})
    assert (second.status_code, second.json()) == (400, {"message": "Duplicate request"})
    assert api("post", "invoices/bulk", {"action": "mark_paid", "ids": ids}).status_code == 200
    time.sleep(1.05)
    assert api("post", "invoices/bulk", {"action": "mark_sent", "ids": ids}).status_code == 200


def test_same_payment_twice_within_a_second_is_refused_and_idempotency_keys_are_unique(api):
    client_id = make_client(api)["id"]
    invoice_id = api("post", "invoices", {"client_id": client_id,
                                          "line_items": [{"cost": 100, "quantity": 1}]}).json()["data"]["id"]
    body = {"client_id": client_id, "invoices": [{"invoice_id": invoice_id, "amount": 10}], "idempotency_key": "k1"}
    first = api("post", "payments", body)
    assert first.status_code == 200 and first.json()["data"]["paymentables"][0]["amount"] == 10.0
    assert api("post", "payments", {**body, "idempotency_key": "k2"}).json() == {"message": "Duplicate request"}
    time.sleep(1.05)
    again = api("post", "payments", body)
    assert again.status_code == 422 and "idempotency_key" in again.json()["errors"]
    invoice = api("get", f"invoices/{invoice_id}").json()["data"]
    assert (invoice["paid_to_date"], invoice["balance"], invoice["status_id"]) == (10.0, 90.0, "3")


def test_approve_then_convert_creates_a_draft_invoice(api):
    quote = make_quote(api, make_client(api)["id"])
    approved = api("post", "quotes/bulk", {"action": "approve", "ids": [quote["id"]]}).json()["data"][0]
    assert approved["status_id"] == "3"
    converted = api("post", "quotes/bulk", {"action": "convert_to_invoice", "ids": [quote["id"]]}).json()["data"][0]
    assert converted["status_id"] == "4"
    invoice = api("get", f"invoices/{converted['invoice_id']}").json()["data"]
    assert (invoice["status_id"], invoice["amount"]) == ("1", 240.12)
    again = api("post", "quotes/bulk", {"action": "convert_to_invoice", "ids": [quote["id"]]}).json()["data"][0]
    assert again["invoice_id"] == converted["invoice_id"]  # converting twice is skipped silently


def test_webhook_registration_validates_the_event(api):
    assert api("post", "webhooks", {"target_url": TARGET, "event_id": 99}).json() == "Invalid event"
    response = api("post", "webhooks", {"target_url": "", "event_id": 3})
    assert response.status_code == 422 and "target_url" in response.json()["errors"]


@responses.activate
def test_email_marks_sent_and_delivers_the_registered_webhooks_with_their_headers(
        api, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(sandbox, "DELIVER_IN_BACKGROUND", False)
    responses.post(TARGET + "sent_quote/", json={"status": "queued"})
    responses.post(TARGET + "update_quote/", json={"status": "queued"})
    for event_id, name in ((61, "sent_quote"), (6, "update_quote")):
        api("post", "webhooks", {"target_url": TARGET + f"{name}/", "event_id": event_id,
                                 "headers": {"X-Console-Webhook-Token": "s3cret"}})
    quote = make_quote(api, make_client(api)["id"])
    with django_capture_on_commit_callbacks(execute=True):
        sent = api("post", "emails", {"entity": "quote", "entity_id": quote["id"], "template": "email_template_quote"})
    assert sent.json()["data"]["status_id"] == "2"
    delivered = {call.request.url: call.request for call in responses.calls}
    request = delivered[TARGET + "sent_quote/"]
    assert request.headers["X-Console-Webhook-Token"] == "s3cret"
    body = json.loads(request.body)
    assert body["id"] == quote["id"] and body["status_id"] == "2" and body["client"]["name"] == "Atelier"
    assert "data" not in body  # a bare entity, no envelope


def test_email_template_needs_the_prefix(api):
    quote = make_quote(api, make_client(api)["id"])
    response = api("post", "emails", {"entity": "quote", "entity_id": quote["id"], "template": "quote"})
    assert response.status_code == 422 and "template" in response.json()["errors"]


@responses.activate
def test_a_target_answering_410_gets_its_registration_archived(api, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(sandbox, "DELIVER_IN_BACKGROUND", False)
    responses.post(TARGET + "create_client/", status=410)
    hook = api("post", "webhooks", {"target_url": TARGET + "create_client/", "event_id": 1}).json()["data"]
    with django_capture_on_commit_callbacks(execute=True):
        make_client(api)
    assert api("get", f"webhooks/{hook['id']}").json()["data"]["archived_at"] > 0


def test_pdf_download_is_a_valid_pdf(api):
    quote = make_quote(api, make_client(api)["id"])
    response = api("get", f"quote/{quote['invitations'][0]['key']}/download")
    assert response["Content-Type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    xref_at = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[xref_at:].startswith(b"xref")
    first_object = int(pdf[xref_at:].split(b"\n")[3][:10])
    assert pdf[first_object:].startswith(b"1 0 obj")
    assert api("get", "quote/badkey/download").json() == {"message": "no record found"}


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_deliveries_leave_from_a_background_thread_after_the_response(api):
    responses.post(TARGET + "create_client/", json={})
    api("post", "webhooks", {"target_url": TARGET + "create_client/", "event_id": 1})
    make_client(api)
    deadline = time.monotonic() + 5
    while not responses.calls and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(responses.calls) == 1


def test_portal_approves_a_sent_quote_and_records_a_payment(api, account, client, django_capture_on_commit_callbacks):
    client_id = make_client(api)["id"]
    quote = make_quote(api, client_id)
    api("post", "quotes/bulk", {"action": "mark_sent", "ids": [quote["id"]]})
    page = client.get("/sandbox/invoiceninja/").content.decode()
    assert "Approuver" in page
    client.post(f"/sandbox/invoiceninja/portal/quotes/{quote['id']}/approve/")
    assert api("get", f"quotes/{quote['id']}").json()["data"]["status_id"] == "3"

    invoice = api("post", "invoices", {"client_id": client_id, "line_items": [{"cost": 50, "quantity": 1}]}).json()
    invoice_id = invoice["data"]["id"]
    api("post", "invoices/bulk", {"action": "mark_sent", "ids": [invoice_id]})
    assert "Enregistrer un paiement" in client.get("/sandbox/invoiceninja/").content.decode()
    client.post(f"/sandbox/invoiceninja/portal/invoices/{invoice_id}/pay/", {"amount": "50"})
    paid = api("get", f"invoices/{invoice_id}").json()["data"]
    assert (paid["status_id"], paid["balance"]) == ("4", 0.0)
    assert api("get", "payments").json()["data"][0]["paymentables"][0]["invoice_id"] == invoice_id


def sent_invoice(api, cost) -> str:
    client_id = make_client(api)["id"]
    invoice = api("post", "invoices", {"client_id": client_id, "line_items": [{"cost": cost, "quantity": 1}]})
    invoice_id = invoice.json()["data"]["id"]
    api("post", "invoices/bulk", {"action": "mark_sent", "ids": [invoice_id]})
    return invoice_id


def portal_message(response) -> str:
    return re.search(r'role="status"><strong>(.*?)</strong>', response.content.decode()).group(1)


def test_the_prefilled_balance_pays_the_invoice_in_a_french_portal(api, client):
    invoice_id = sent_invoice(api, 2160)
    page = client.get("/sandbox/invoiceninja/", headers={"Accept-Language": "fr"}).content.decode()
    row = page[page.index(f'id="invoice-{invoice_id}"'):]
    prefilled = re.search(r'<input name="amount" value="([^"]*)"', row).group(1)
    assert "Solde" in page and ">2160,0<" in row  # shown the French way, prefilled the machine way

    response = client.post(f"/sandbox/invoiceninja/portal/invoices/{invoice_id}/pay/", {"amount": prefilled},
                           follow=True)
    assert portal_message(response) == "Paiement enregistré."
    paid = api("get", f"invoices/{invoice_id}").json()["data"]
    assert (paid["status_id"], paid["balance"], paid["paid_to_date"]) == ("4", 0.0, 2160.0)


@pytest.mark.parametrize(("typed", "paid"), [("40,50", 40.5), ("40,5", 40.5), ("1 000,00", 1000.0),
                                             ("1\u202f000,25", 1000.25), (" 40.50 ", 40.5)])
def test_a_french_user_may_type_the_amount_with_a_decimal_comma(api, client, typed, paid):
    invoice_id = sent_invoice(api, 2160)
    response = client.post(f"/sandbox/invoiceninja/portal/invoices/{invoice_id}/pay/", {"amount": typed},
                           follow=True)
    assert portal_message(response) == "Paiement enregistré."
    invoice = api("get", f"invoices/{invoice_id}").json()["data"]
    assert (invoice["status_id"], invoice["paid_to_date"], invoice["balance"]) == ("3", paid, 2160 - paid)


@pytest.mark.parametrize("typed", ["quarante", "NaN", "Infinity", "40,505", "1,000.50", "-5", "0", "2160,01"])
def test_an_amount_that_is_not_one_or_exceeds_the_balance_is_refused_with_a_message(api, client, typed):
    invoice_id = sent_invoice(api, 2160)
    response = client.post(f"/sandbox/invoiceninja/portal/invoices/{invoice_id}/pay/", {"amount": typed},
                           follow=True)
    assert response.status_code == 200
    assert portal_message(response) == "Montant invalide ou facture non payable."
    assert api("get", "payments").json()["data"] == []
    assert api("get", f"invoices/{invoice_id}").json()["data"]["balance"] == 2160.0


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "douze"])
def test_the_api_answers_422_to_a_payment_amount_that_is_not_a_number(api, value):
    invoice_id = sent_invoice(api, 50)
    client_id = api("get", f"invoices/{invoice_id}").json()["data"]["client_id"]
    response = api("post", "payments", {"client_id": client_id, "amount": value,
                                        "invoices": [{"invoice_id": invoice_id, "amount": 50}]})
    assert response.status_code == 422
    assert response.json()["errors"] == {"amount": ["The amount must be a number."]}
