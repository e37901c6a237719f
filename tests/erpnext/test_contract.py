"""Contract: every request the console sends to ERPNext names only doctypes and fields that exist in v15.

The catalogue is the copy in tests/contracts/erpnext/ (see its SOURCE.md), not the app's: a request is
checked against vendor data, not against what the emulator happens to accept. The requests come from
the real client doing everything the console does: connection test, full and incremental syncs of every
doctype, and a webhook's targeted refresh.
"""

import json
import re
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.core.models import SyncRun
from apps.erpnext.catalogue import CATALOGUE_PATH
from apps.erpnext.client import READ_METHODS
from apps.erpnext.sandbox import demo_data
from apps.erpnext.sync import RESOURCES, refresh_document

from .conftest import sync_everything

pytestmark = pytest.mark.django_db
CONTRACT = Path(settings.BASE_DIR) / "tests" / "contracts" / "erpnext" / "erpnext_15_hub_doctype_fields.json"
CATALOGUE = json.loads(CONTRACT.read_text())
ORDER_PART = re.compile(r"^\s*([a-z_]+)\s+(asc|desc)\s*$")


def v15_fields(doctype: str) -> set[str]:
    meta = CATALOGUE["doctypes"][doctype]
    standard = set(CATALOGUE["_about"]["frappe_standard_fields"]["every_doctype"])
    return standard | {f["fieldname"] for f in meta["fields"] if f["fieldtype"] not in ("Table", "Table MultiSelect")}


def filter_fields(raw, doctype) -> list[str]:
    value = json.loads(raw)
    if isinstance(value, dict):
        value = [[k, *(v if isinstance(v, list) else ["=", v])] for k, v in value.items()]
    entries = value
    fields = []
    for entry in entries:
        if len(entry) == 4:
            assert entry[0] == doctype
            entry = entry[1:]
        fields.append(entry[0])
    return fields


def check_request(request) -> str:
    """Assert one request is valid against the v15 catalogue; return what it was, for the coverage check."""
    assert request.method == "GET"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Authorization"].startswith("token ")
    parts = urlsplit(request.url)
    params = {key: values[0] for key, values in parse_qs(parts.query).items()}
    path = unquote(parts.path).split("/sandbox/erpnext", 1)[1]
    if path.startswith("/api/resource/"):
        doctype, _, name = path[len("/api/resource/"):].partition("/")
        assert doctype in CATALOGUE["doctypes"] and not CATALOGUE["doctypes"][doctype].get("istable")
        allowed = v15_fields(doctype)
        if name:
            return f"document {doctype}"
        fields = json.loads(params["fields"])
        assert set(fields) <= allowed, set(fields) - allowed
        for key in ("filters", "or_filters"):
            if key in params:
                assert set(filter_fields(params[key], doctype)) <= allowed
        order = [ORDER_PART.match(part) for part in params["order_by"].split(",")]
        assert all(order) and {m[1] for m in order} <= allowed and order[-1][1] == "name"
        assert int(params["limit_page_length"]) >= 1
        return f"list {doctype}"
    method = path[len("/api/method/"):]
    assert method in READ_METHODS
    if "doctype" in params:
        assert params["doctype"] in CATALOGUE["doctypes"]
    if "filters" in params:
        assert set(filter_fields(params["filters"], params["doctype"])) <= v15_fields(params["doctype"])
    return f"method {method}"


def test_the_emulators_catalogue_is_the_vendor_catalogue():
    assert json.loads(CATALOGUE_PATH.read_text()) == CATALOGUE


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.name)
def test_each_resource_asks_for_v15_fields_only(resource):
    assert resource.doctype in CATALOGUE["doctypes"]
    assert set(resource.requested_fields()) <= v15_fields(resource.doctype)


def test_every_request_the_console_sends_is_valid_in_v15(sandbox):
    demo_data.populate(sandbox.site)
    call_command("connection", "test", "erp", stdout=StringIO())
    sync_everything(sandbox.connection, SyncRun.Kind.FULL)
    sync_everything(sandbox.connection)
    refresh_document(sandbox.connection, "Sales Invoice", "ACC-SINV-2099-99999")
    seen = {check_request(request) for request in sandbox.requests()}
    assert {f"list {r.doctype}" for r in RESOURCES} <= seen
    assert {"method frappe.auth.get_logged_user", "method frappe.client.has_permission"} <= seen
