"""The ERPNext client: token header and Accept on every call, Frappe's error shapes read, and read only
whatever code tries — no write method exists, the transport and the session both refuse anything but a GET."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from apps.core.http import AuthenticationError, ClientError
from apps.core.models import ApiCall
from apps.erpnext.client import ERPNextClient, ReadOnlyTransport, WriteRefused, read_only_session

from .conftest import API_KEY, API_SECRET, BASE

pytestmark = pytest.mark.django_db
ROOT = f"{BASE}/sandbox/erpnext"


def frappe_error(status, exc_type, message):
    return {"exc_type": exc_type, "exception": f"frappe.exceptions.{exc_type}: {message}",
            "_server_messages": json.dumps([json.dumps({"message": f"<b>{message}</b>", "indicator": "red"})])}


@responses.activate
def test_every_call_sends_the_token_header_and_asks_for_json(connection):
    responses.get(f"{ROOT}/api/resource/Customer", json={"data": [{"name": "CUST-1"}]})
    responses.get(f"{ROOT}/api/method/frappe.auth.get_logged_user", json={"message": "api@erp.example"})
    client = ERPNextClient(connection)
    assert client.list_documents("Customer", fields=["name"], order_by="modified asc, name asc") == [{"name": "CUST-1"}]
    assert client.logged_user() == "api@erp.example"
    for call in responses.calls:
        assert call.request.headers["Authorization"] == f"token {API_KEY}:{API_SECRET}"
        assert call.request.headers["Accept"] == "application/json"
        assert call.request.method == "GET"


@responses.activate
def test_lists_always_send_a_page_size_and_an_order_ending_in_name(connection):
    responses.get(f"{ROOT}/api/resource/Sales%20Invoice", json={"data": []})
    client = ERPNextClient(connection)
    client.list_documents("Sales Invoice", fields=["name", "status"], order_by="modified asc, name asc",
                          filters=[["docstatus", "=", 1]])
    params = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert params["limit_page_length"] == ["500"]
    assert params["order_by"] == ["modified asc, name asc"]
    assert json.loads(params["filters"][0]) == [["docstatus", "=", 1]]
    with pytest.raises(ValueError):
        client.list_documents("Customer", fields=["name"], order_by="modified asc")
    with pytest.raises(ValueError):
        client.list_documents("Customer", fields=["name"], order_by="modified asc, name asc", limit_page_length=0)
    assert len(responses.calls) == 1


@responses.activate
def test_frappe_error_messages_are_decoded_twice_and_403_is_an_authentication_error(connection):
    responses.get(f"{ROOT}/api/resource/Bin", status=403, json=frappe_error(403, "PermissionError", "No Bin for you"))
    responses.get(f"{ROOT}/api/resource/Item", status=417,
                  json=frappe_error(417, "DataError", "Field not permitted in query: x"))
    client = ERPNextClient(connection)
    with pytest.raises(AuthenticationError) as refused:
        client.list_documents("Bin", fields=["name"], order_by="name asc")
    assert refused.value.status == 403
    assert str(refused.value) == "PermissionError : No Bin for you"
    with pytest.raises(ClientError, match="Field not permitted in query: x"):
        client.list_documents("Item", fields=["x"], order_by="name asc")


@responses.activate
def test_a_missing_document_is_none(connection):
    responses.get(f"{ROOT}/api/resource/Customer/CUST%2F9", status=404,
                  json=frappe_error(404, "DoesNotExistError", "gone"))
    assert ERPNextClient(connection).get_document("Customer", "CUST/9") is None


WRITE_NAMES = {"post", "put", "patch", "delete", "insert", "insert_many", "update", "bulk_update", "submit", "cancel",
               "set_value", "save", "rename_doc", "create", "create_document", "delete_document", "request"}


def test_the_client_has_no_write_method_at_all():
    public = {name for name in dir(ERPNextClient) if not name.startswith("_")}
    assert public == {"list_documents", "get_document", "count", "logged_user", "has_permission"}
    assert not public & WRITE_NAMES


@responses.activate
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_the_transport_refuses_every_method_but_get_before_anything_is_sent(connection, method):
    responses.add(method, f"{ROOT}/api/resource/Customer", json={"data": "ok"})
    transport = ReadOnlyTransport(connection)
    with pytest.raises(WriteRefused):
        transport.request(method, "api/resource/Customer")
    if method in ("POST", "PUT", "PATCH", "DELETE"):  # the kernel base's shortcuts are refused too
        with pytest.raises(WriteRefused):
            getattr(transport, method.lower())("api/resource/Customer", json={"customer_name": "X"})
    assert len(responses.calls) == 0
    assert not ApiCall.objects.exists()


@responses.activate
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_the_session_itself_refuses_writes_whoever_uses_it(connection, method):
    """Code that bypasses the client and uses the connection's session directly is stopped at the adapter."""
    responses.add(method, f"{ROOT}/api/resource/Customer", json={"data": "ok"})
    session = read_only_session(connection)
    with pytest.raises(WriteRefused):
        session.request(method, f"{ROOT}/api/resource/Customer", json={"customer_name": "X"})
    assert len(responses.calls) == 0


@responses.activate
@pytest.mark.parametrize("path", [
    "api/method/frappe.client.insert",
    "api/method/frappe.client.set_value",
    "api/method/frappe.client.delete",
    "api/method/frappe.client.submit",
    "api/method/run_doc_method",
    "api/method/frappe.core.doctype.user.user.generate_keys",
    "api/v2/document/Customer",
    "app/customer",
])
def test_get_on_anything_but_a_resource_or_a_read_method_is_refused(connection, path):
    responses.get(f"{ROOT}/{path}", json={"message": "done"})
    with pytest.raises(WriteRefused):
        ReadOnlyTransport(connection).get(path)
    with pytest.raises(WriteRefused):
        read_only_session(connection).get(f"{ROOT}/{path}")
    assert len(responses.calls) == 0


@responses.activate
def test_a_body_is_refused_even_on_get(connection):
    responses.get(f"{ROOT}/api/resource/Customer", json={"data": []})
    with pytest.raises(WriteRefused):
        ReadOnlyTransport(connection).get("api/resource/Customer", json={"name": "x"})
    assert len(responses.calls) == 0


def test_whitelisted_read_methods_are_the_only_methods_allowed(connection):
    from apps.erpnext.client import READ_METHODS, check_read_only

    for name in READ_METHODS:
        check_read_only("GET", f"{ROOT}/api/method/{name}")
    check_read_only("GET", f"{ROOT}/api/resource/Sales%20Invoice/ACC-SINV-2026-00001")
    with pytest.raises(WriteRefused):
        check_read_only("GET", f"{ROOT}/api/method/frappe.client.save")


def test_count_and_permission_questions_are_reads_of_whitelisted_methods(sandbox):
    from apps.erpnext.sandbox import state

    for number in range(3):
        state.save_document(sandbox.site, "Customer", f"CUST-{number}", {"customer_name": f"C{number}",
                                                                         "disabled": int(number == 2)})
    client = ERPNextClient(sandbox.connection)
    assert client.count("Customer") == 3
    assert client.count("Customer", [["disabled", "=", 0]]) == 2
    assert client.has_permission("Customer", "CUST-0", "read") is True
    assert client.has_permission("Customer", "CUST-0", "write") is False
    assert {(r.method, urlsplit(r.url).path.rsplit("/", 1)[-1]) for r in sandbox.requests()} == {
        ("GET", "frappe.client.get_count"), ("GET", "frappe.client.has_permission")}
