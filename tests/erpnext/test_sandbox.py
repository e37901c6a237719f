"""The ERPNext emulator behaves like Frappe v15 where the console depends on it (NOTES §2–§4, §8.3, §10)."""

import base64
import hashlib
import hmac
import json
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from apps.erpnext.sandbox import demo_data, state
from apps.erpnext.sandbox.state import SandboxDocument

from .conftest import API_KEY, API_SECRET

pytestmark = pytest.mark.django_db
ROOT = "/sandbox/erpnext/api"
AUTH = {"Authorization": f"token {API_KEY}:{API_SECRET}", "Accept": "application/json"}


def get(path, headers=AUTH, **params):
    query = {key: json.dumps(value) if isinstance(value, (list, dict)) else value for key, value in params.items()}
    return Client().get(f"{ROOT}/{path}", query, headers=headers)


def seed(site, count=30):
    for number in range(1, count + 1):
        state.save_document(site, "Customer", f"CUST-{number:03d}", {
            "customer_name": f"Client {number:03d}", "tax_id": f"FR{number:011d}" if number % 2 else "",
            "disabled": int(number % 10 == 0), "customer_type": "Company"})


def test_sandbox_is_off_unless_enabled(site, settings):
    settings.SANDBOX = False
    assert get("resource/Customer").status_code == 404


def test_default_page_is_20_rows_and_zero_means_all(site):
    seed(site)
    assert len(get("resource/Customer").json()["data"]) == 20
    assert len(get("resource/Customer", limit_page_length=0).json()["data"]) == 30
    assert len(get("resource/Customer", limit=7).json()["data"]) == 7
    page = get("resource/Customer", order_by="name asc", limit_start=25, limit_page_length=10).json()["data"]
    assert [row["name"] for row in page] == ["CUST-026", "CUST-027", "CUST-028", "CUST-029", "CUST-030"]


def test_fields_default_to_name_and_unknown_fields_are_a_417_data_error(site):
    seed(site, 2)
    assert get("resource/Customer", order_by="name asc").json()["data"] == [{"name": "CUST-001"}, {"name": "CUST-002"}]
    row = get("resource/Customer", fields=["name", "customer_name", "is_frozen"], order_by="name asc").json()["data"][0]
    assert row == {"name": "CUST-001", "customer_name": "Client 001", "is_frozen": 0}
    refused = get("resource/Customer", fields=["name", "customer_nom"])
    assert refused.status_code == 417
    body = refused.json()
    assert body["exc_type"] == "DataError"
    messages = [json.loads(s) for s in json.loads(body["_server_messages"])]
    assert messages[0]["message"] == "Field not permitted in query: customer_nom"


def test_filters_in_list_and_dict_forms_and_or_filters(site):
    seed(site)
    as_list = get("resource/Customer", filters=[["tax_id", "is", "set"], ["disabled", "=", 0]], limit_page_length=0)
    as_dict = get("resource/Customer", filters={"tax_id": ["is", "set"], "disabled": 0}, limit_page_length=0)
    names = sorted(r["name"] for r in as_list.json()["data"])
    assert names == sorted(r["name"] for r in as_dict.json()["data"])
    assert names == [f"CUST-{n:03d}" for n in range(1, 31, 2)]  # odd numbers have a tax id; none is a tenth
    four = get("resource/Customer", filters=[["Customer", "customer_name", "like", "%00%"]], limit_page_length=0)
    assert len(four.json()["data"]) == 9
    either = get("resource/Customer", filters=[["name", ">=", "CUST-010"]],
                 or_filters=[["name", "=", "CUST-010"], ["name", ">", "CUST-028"]], order_by="name asc")
    assert [row["name"] for row in either.json()["data"]] == ["CUST-010", "CUST-029", "CUST-030"]
    assert get("resource/Customer", filters=[["nope", "=", 1]]).status_code == 417


def test_without_order_by_the_order_is_not_stable(site):
    seed(site)
    orders = {tuple(r["name"] for r in get("resource/Customer", limit_page_length=0).json()["data"]) for _ in range(8)}
    assert len(orders) > 1
    ordered = get("resource/Customer", order_by="customer_name desc, name desc", limit_page_length=3).json()["data"]
    assert [r["name"] for r in ordered] == ["CUST-030", "CUST-029", "CUST-028"]


def test_auth_guest_bad_token_and_missing_permission(site):
    seed(site, 1)
    assert get("resource/Customer", headers={"Accept": "application/json"}).status_code == 403
    bad = get("resource/Customer", headers={"Authorization": f"token {API_KEY}:nope", "Accept": "application/json"})
    assert bad.status_code == 401 and bad.json()["exc_type"] == "AuthenticationError"
    basic = base64.b64encode(f"{API_KEY}:{API_SECRET}".encode()).decode()
    assert get("resource/Customer", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    site.readable_doctypes = ["Item"]
    site.save()
    refused = get("resource/Customer")
    assert refused.status_code == 403 and refused.json()["exc_type"] == "PermissionError"
    assert get("resource/Nonexistent").status_code == 404


def test_errors_are_html_for_a_browser_and_json_for_api_clients(site):
    html = get("resource/Customer", headers={"Accept": "text/html,application/xhtml+xml"})
    assert html.status_code == 403 and html["Content-Type"].startswith("text/html")
    assert b"Not Permitted" in html.content
    as_json = get("resource/Customer", headers={"Accept": "application/json"})
    assert as_json["Content-Type"] == "application/json" and as_json.json()["exc_type"] == "PermissionError"


def test_read_methods(site):
    seed(site, 5)
    assert get("method/ping", headers={}).json() == {"message": "pong"}
    assert get("method/frappe.auth.get_logged_user").json() == {"message": site.user}
    assert get("method/frappe.client.get_count", doctype="Customer", filters=[["disabled", "=", 0]]).json() == {
        "message": 5}
    permission = get("method/frappe.client.has_permission", doctype="Customer", docname="CUST-001", perm_type="write")
    assert permission.json() == {"message": {"has_permission": False}}


def test_saving_bumps_modified_but_the_daily_overdue_job_does_not(site):
    document = state.save_document(site, "Sales Invoice", "ACC-SINV-2026-00001", {
        "docstatus": 1, "status": "Unpaid", "grand_total": 100.0, "outstanding_amount": 100.0,
        "due_date": "2026-01-10"})
    before = document.modified
    assert state.run_daily_overdue(site, today=date(2026, 2, 1)) == 1
    document.refresh_from_db()
    assert document.data["status"] == "Overdue"
    assert document.modified == before == document.data["modified"]
    state.record_payment(site, "ACC-SINV-2026-00001", Decimal("100"))
    document.refresh_from_db()
    assert document.data["status"] == "Paid" and document.modified > before


def test_cancel_and_amend_as_frappe_names_them(site):
    state.save_document(site, "Sales Invoice", "ACC-SINV-2026-00002", {"docstatus": 1, "grand_total": 50.0,
                                                                        "outstanding_amount": 50.0, "status": "Unpaid"})
    amended = state.amend(site, "Sales Invoice", "ACC-SINV-2026-00002",
                          {"grand_total": 45.0, "outstanding_amount": 45.0})
    original = SandboxDocument.objects.get(site=site, name="ACC-SINV-2026-00002")
    assert (original.docstatus, original.data["status"]) == (2, "Cancelled")
    assert amended.name == "ACC-SINV-2026-00002-1" and amended.data["amended_from"] == "ACC-SINV-2026-00002"


def test_webhooks_are_signed_over_the_exact_body(site, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(state, "DELIVER_IN_BACKGROUND", False)
    monkeypatch.setattr(state, "_post_with_retries",
                        lambda url, body, headers, pause=None: sent.append((url, body, headers)))
    site.webhook_url, site.webhook_secret = "https://console.example.test/hooks/erpnext/x/", "test-secret"
    site.save()
    with django_capture_on_commit_callbacks(execute=True):
        state.save_document(site, "Customer", "CUST-1", {"customer_name": "Café Ünïcode"})
    url, body, headers = sent[0]
    expected = base64.b64encode(hmac.new(b"test-secret", body, hashlib.sha256).digest()).decode()
    assert headers["X-Frappe-Webhook-Signature"] == expected
    assert json.loads(body)["name"] == "CUST-1" and json.loads(body)["event"] == "on_change"


def test_the_notes_signature_vector():
    """NOTES §10.4 test vector, computed by the emulator's signer over the bytes json.dumps gives."""
    data = {"doctype": "Sales Invoice", "name": "ACC-SINV-2024-00001", "status": "Paid", "outstanding_amount": 0.0,
            "customer_name": "Café Ünïcode"}
    assert state.sign("test-secret", json.dumps(data).encode()) == "Qst2KJqYFWUUubbCwxsl8+/2rsQM7yn9/hFS4MvEQGc="
    assert state.sign("test-secret", b"{}") == "L1kEC2O3IAWYREI52iyaTzq8XENCWbIxJtclFNq4zQk="


def test_demo_data_is_a_year_of_documents_in_the_catalogue_shape(site):
    counts = demo_data.populate(site)
    assert counts["Sales Invoice"] >= 300 and counts["Bin"] >= 30 and counts["Warehouse"] == 2
    rows = get("resource/Bin", fields=["warehouse"], limit_page_length=0).json()["data"]
    assert {row["warehouse"] for row in rows} == set(demo_data.WAREHOUSES)
    rows = get("resource/Sales Invoice", fields=["status"], limit_page_length=0).json()["data"]
    statuses = {row["status"] for row in rows}
    assert {"Paid", "Overdue", "Cancelled", "Draft"} <= statuses
    assert demo_data.populate(site) == counts  # idempotent
    with pytest.raises(ValueError, match="n'a pas de champ"):
        demo_data.checked("Customer", {"customer_nom": "x"})
