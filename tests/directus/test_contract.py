"""Contract: the requests the console makes and the answers of the sandbox, checked against the notes' shapes.

Everything read here comes from tests/contracts/directus/NOTES.md (see SOURCE.md there): the error table
(§2.3), the query parameters (§2.1), the filter operators (§2.2) and the items routes (§2).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.conf import settings

from apps.core.connection_check import check_connection
from apps.core.sync import sync_all
from apps.directus import push
from apps.hub.models import Company, Contact, Quote
from tests.directus.conftest import run_jobs, settle

pytestmark = pytest.mark.django_db(transaction=True)

NOTES = (Path(settings.BASE_DIR) / "tests" / "contracts" / "directus" / "NOTES.md").read_text()
# Not in the notes: the schema API used by `directus bootstrap` (Directus reference, UNCONFIRMED for 11.x).
SCHEMA_ROUTES = (r"/collections", r"/fields/[^/]+")
DOCUMENTED_ROUTES = (r"/items/[^/]+", r"/items/[^/]+/[^/]+", r"/server/ping", r"/server/specs/oas", r"/users/me")


def section(title: str) -> str:
    start = NOTES.index(title)
    following = NOTES.find("\n##", start + len(title))
    return NOTES[start:following if following > 0 else None]


def error_table() -> dict[str, int]:
    rows = re.findall(r"\|\s*`([A-Z_]+)`\s*\|\s*(\d{3})\s*\|", section("### 2.3 Errors and limits"))
    return {code: int(status) for code, status in rows}


def documented_params() -> set[str]:
    return set(re.findall(r"^\|\s*`([a-zA-Z]+)`", section("### 2.1 Query parameters"), flags=re.M))


def documented_operators() -> set[str]:
    return set(re.findall(r"`(_[a-z_]+)`", section("### 2.2 Filter rules")))


def operators_in(rule) -> set[str]:
    found = set()
    if isinstance(rule, dict):
        for key, value in rule.items():
            if key.startswith("_"):
                found.add(key)
            found |= operators_in(value)
    elif isinstance(rule, list):
        for value in rule:
            found |= operators_in(value)
    return found


@pytest.fixture
def recorded(monkeypatch):
    calls = []
    original = requests.Session.request

    def record(self, method, url, **kwargs):
        if "/sandbox/directus/" in url:
            calls.append({"method": method.upper(), "url": url, "params": kwargs.get("params") or {},
                          "headers": kwargs.get("headers") or {}, "data": kwargs.get("data")})
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", record)
    return calls


def test_the_notes_tables_are_read():
    assert error_table()["FORBIDDEN"] == 403 and error_table()["SERVICE_UNAVAILABLE"] == 503
    assert {"fields", "filter", "sort", "limit", "offset", "meta"} <= documented_params()
    assert {"_eq", "_in", "_gte"} <= documented_operators()


def test_every_console_request_has_a_documented_shape(directus, recorded):
    company = Company.objects.create(name="Atelier")
    contact = Contact.objects.create(company=company, email="a@atelier.example")
    quote = Quote.objects.create(company=company, title="Site")
    settle()
    directus.as_admin("PATCH", f"items/{directus.name('contacts')}/contact-{contact.pk}", json={"phone": "01"})
    directus.as_admin("PATCH", f"items/{directus.name('quotes')}/quote-{quote.pk}", json={"total": "9.00"})
    settle()
    quote.delete()
    settle()
    sync_all(provider_key="directus")
    run_jobs("sync")
    assert check_connection(directus.connection).ok
    push.push_all_due(directus.connection)

    console_calls = [c for c in recorded if directus.admin.token not in json.dumps(c["headers"])]
    assert len(console_calls) > 20
    methods_seen = set()
    for call in console_calls:
        path = urlsplit(call["url"]).path.split("/sandbox/directus", 1)[1]
        assert any(re.fullmatch(route, path) for route in DOCUMENTED_ROUTES + SCHEMA_ROUTES), path
        scheme, token = call["headers"]["Authorization"].split(" ")
        assert scheme == "Bearer" and token == directus.connection.secret("token")
        query = dict(parse_qsl(urlsplit(call["url"]).query)) | {k: str(v) for k, v in call["params"].items()}
        assert "access_token" not in query
        assert set(query) <= documented_params(), set(query) - documented_params()
        if "filter" in query:
            assert operators_in(json.loads(query["filter"])) <= documented_operators()
        body = json.loads(call["data"]) if call["data"] else None
        if call["method"] == "PATCH" and re.fullmatch(r"/items/[^/]+", path):
            # batch PATCH, first documented shape: an array of objects that each include the PK
            assert isinstance(body, list) and all(isinstance(i, dict) and i.get("id") for i in body)
        if call["method"] == "DELETE":
            assert isinstance(body, list) and all(isinstance(k, str) for k in body)  # an array of keys
        if call["method"] == "POST" and path.startswith("/items/"):
            assert isinstance(body, (dict, list))
        methods_seen.add((call["method"], path.split("/")[1]))
    assert {("GET", "items"), ("PATCH", "items"), ("POST", "items"), ("DELETE", "items"),
            ("GET", "server"), ("GET", "users")} <= methods_seen


def test_sandbox_errors_use_the_documented_envelope_and_statuses(directus):
    table = error_table()
    name = directus.name("quotes")
    answers = [
        directus.as_admin("GET", f"items/{name}/quote-404"),
        directus.as_admin("GET", f"items/{name}", params={"filter": "{not json"}),
        directus.as_admin("POST", f"items/{name}", json={"title": "sans clé"}),
        requests.get(f"{directus.api}/items/{name}", headers={"Authorization": "Bearer wrong"}, timeout=10),
    ]
    for answer in answers:
        error = answer.json()["errors"][0]
        assert set(error) == {"message", "extensions"}
        code = error["extensions"]["code"]
        assert table[code] == answer.status_code, (code, answer.status_code)
    assert [a.json()["errors"][0]["extensions"]["code"] for a in answers] == [
        "FORBIDDEN", "INVALID_QUERY", "FAILED_VALIDATION", "INVALID_CREDENTIALS"]
