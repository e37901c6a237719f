"""The Directus emulator speaks like Directus (NOTES §2–§4): items query, batch writes, 403 for missing,
error envelope, schema endpoints, and a Flow that respects IMPORT_IP_DENY_LIST."""

import json

import pytest
from django.test import Client

from apps.directus.sandbox import flows
from apps.directus.sandbox.state import (
    SandboxDirectusCollection,
    SandboxDirectusItem,
    SandboxDirectusProject,
    SandboxDirectusUser,
)

pytestmark = pytest.mark.django_db
API = "/sandbox/directus"


@pytest.fixture
def project(settings):
    settings.SANDBOX = True
    project = SandboxDirectusProject.objects.create(name="P")
    collection = SandboxDirectusCollection.objects.create(project=project, name="articles", fields=[
        {"field": "id", "type": "string", "schema": {"is_primary_key": True}},
        {"field": "title", "type": "string"}, {"field": "rank", "type": "integer"},
        {"field": "date_updated", "type": "timestamp", "meta": {"special": ["date-updated"]}},
    ])
    for index, title in enumerate(["Alpha", "Bravo", "Charlie", "Delta"]):
        SandboxDirectusItem.objects.create(collection=collection, key=f"a{index}",
                                           data={"title": title, "rank": index})
    return project


@pytest.fixture
def admin(project):
    return SandboxDirectusUser.objects.create(project=project, email="admin@example.test", is_admin=True)


def call(method, path, user=None, body=None, **params):
    headers = {"Authorization": f"Bearer {user.token}"} if user else {}
    if method == "GET":
        return Client().get(f"{API}/{path}", params, headers=headers)
    return Client().generic(method, f"{API}/{path}" + (("?" + "&".join(f"{k}={v}" for k, v in params.items()))
                                                      if params else ""),
                            data=json.dumps(body) if body is not None else "", content_type="application/json",
                            headers=headers)


def error_code(response):
    return response.json()["errors"][0]["extensions"]["code"]


def test_filters_fields_sort_limit_offset_and_meta(admin):
    answer = call("GET", "items/articles", admin, filter=json.dumps({"rank": {"_gte": 1}}), fields="id,title",
                  sort="-rank", limit=2, offset=1, meta="*")
    assert answer.json() == {"data": [{"id": "a2", "title": "Charlie"}, {"id": "a1", "title": "Bravo"}],
                             "meta": {"total_count": 4, "filter_count": 3}}
    bracket = call("GET", "items/articles", admin, **{"filter[title][_in]": "Alpha,Delta", "fields": "id"})
    assert bracket.json() == {"data": [{"id": "a0"}, {"id": "a3"}]}
    assert "meta" not in bracket.json()
    paged = call("GET", "items/articles", admin, limit=1, page=3, fields="id")
    assert paged.json()["data"] == [{"id": "a2"}]


def test_missing_item_and_missing_collection_are_403_forbidden_in_the_error_envelope(admin):
    for path in ("items/articles/nope", "items/nothing", "items/nothing/a0"):
        answer = call("GET", path, admin)
        assert answer.status_code == 403
        assert error_code(answer) == "FORBIDDEN"
    assert call("PATCH", "items/articles/nope", admin, {"title": "x"}).status_code == 403


def test_a_limited_token_sees_only_its_collections_and_a_bad_token_is_refused(project):
    reader = SandboxDirectusUser.objects.create(project=project, email="r@example.test",
                                                permissions={"articles": ["read"]})
    assert call("GET", "items/articles", reader).status_code == 200
    assert call("PATCH", "items/articles/a0", reader, {"title": "x"}).status_code == 403
    unknown = Client().get(f"{API}/items/articles", headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401 and error_code(unknown) == "INVALID_CREDENTIALS"
    assert call("GET", "items/articles").status_code == 403  # public role
    spec = call("GET", "server/specs/oas", reader).json()
    assert set(spec["paths"]["/items/articles"]) == {"get"}
    assert spec["info"]["version"] != call("GET", "server/specs/oas", reader).json()["info"]["version"]


def test_batch_patch_in_its_three_shapes_and_all_or_nothing(admin):
    assert call("PATCH", "items/articles", admin, [{"id": "a0", "title": "A"}, {"id": "a1", "title": "B"}]).status_code == 200
    assert call("PATCH", "items/articles", admin, {"keys": ["a2"], "data": {"title": "C"}}).status_code == 200
    assert call("PATCH", "items/articles", admin, {"query": {"filter": {"rank": {"_eq": 3}}}, "data": {"title": "D"}}).status_code == 200
    titles = [i["title"] for i in call("GET", "items/articles", admin, sort="rank").json()["data"]]
    assert titles == ["A", "B", "C", "D"]
    refused = call("PATCH", "items/articles", admin, [{"id": "a0", "title": "Z"}, {"id": "missing", "title": "Y"}])
    assert refused.status_code == 403
    assert SandboxDirectusItem.objects.get(key="a0").data["title"] == "A"  # rolled back
    stamped = SandboxDirectusItem.objects.get(key="a0").data["date_updated"]
    assert stamped.endswith("Z") and "T" in stamped


def test_create_needs_the_manual_key_refuses_duplicates_and_unknown_fields(admin):
    assert call("POST", "items/articles", admin, [{"id": "n1", "title": "New"}], fields="id").json() == {
        "data": [{"id": "n1"}]}
    assert error_code(call("POST", "items/articles", admin, {"title": "no key"})) == "FAILED_VALIDATION"
    assert error_code(call("POST", "items/articles", admin, {"id": "n1"})) == "RECORD_NOT_UNIQUE"
    assert error_code(call("POST", "items/articles", admin, {"id": "n2", "colour": "red"})) == "INVALID_PAYLOAD"
    assert call("DELETE", "items/articles", admin, ["n1"]).status_code == 204
    assert call("GET", "items/articles/n1", admin).status_code == 403


def test_schema_endpoints_create_collections_with_a_string_key_and_fields(admin):
    body = {"collection": "books", "meta": {}, "schema": {},
            "fields": [{"field": "id", "type": "string", "schema": {"is_primary_key": True}}]}
    assert call("POST", "collections", admin, body).status_code == 200
    assert error_code(call("POST", "collections", admin, body)) == "INVALID_PAYLOAD"
    assert call("POST", "fields/books", admin, {"field": "title", "type": "string"}).status_code == 200
    assert [f["field"] for f in call("GET", "fields/books", admin).json()["data"]] == ["id", "title"]
    assert call("GET", "collections/books", admin).json()["data"]["collection"] == "books"
    assert call("GET", "collections/none", admin).status_code == 403


def test_the_down_switch_answers_503_service_unavailable(project, admin):
    SandboxDirectusProject.objects.update(is_down=True)
    answer = call("GET", "items/articles", admin)
    assert answer.status_code == 503 and error_code(answer) == "SERVICE_UNAVAILABLE"
    assert Client().get(f"{API}/server/ping").content == b"pong"


def test_the_flow_refuses_loopback_with_the_default_deny_list(project, admin, monkeypatch):
    monkeypatch.setattr(flows, "DELIVER_IN_BACKGROUND", False)
    sent = []
    monkeypatch.setattr(flows.requests, "post", lambda url, **kw: sent.append((url, kw)) or type(
        "R", (), {"status_code": 200})())
    SandboxDirectusProject.objects.update(flow_url="http://127.0.0.1:8000/hooks/directus/x/",
                                          flow_headers=[{"header": "X-Console-Webhook-Token",
                                                         "value": "{{$env.CONSOLE_WEBHOOK_TOKEN}}"}],
                                          flow_env={"CONSOLE_WEBHOOK_TOKEN": "s3cret"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.db.transaction.on_commit", lambda func, *a, **k: func())
        call("PATCH", "items/articles/a0", admin, {"title": "blocked"})
        assert not sent
        assert "denied IP address" in SandboxDirectusProject.objects.get().flow_log[0]["error"]

        SandboxDirectusProject.objects.update(import_ip_deny_list="169.254.169.254")
        call("PATCH", "items/articles/a0", admin, {"title": "delivered"})
    (url, kwargs), = sent
    assert kwargs["headers"]["X-Console-Webhook-Token"] == "s3cret"
    trigger = json.loads(kwargs["data"])
    assert trigger == {"event": "articles.items.update", "collection": "articles", "keys": ["a0"],
                       "payload": {"title": "delivered"}}
