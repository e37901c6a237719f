"""The emulated Directus REST API (NOTES §1–§3): server, users/me, OpenAPI, schema and items endpoints.

Auth: `Authorization: Bearer <static token>` (exactly two parts, scheme case-insensitive) or `?access_token=`;
no token = the public role, which may do nothing here; an unknown token = 401 INVALID_CREDENTIALS. Errors use
the envelope `{"errors": [{"message", "extensions": {"code"}}]}`. An item that does not exist, a collection
that does not exist and an action the token may not do all answer 403 FORBIDDEN: existence never leaks.
Writes run in one transaction (a batch is all or nothing). `date-updated` fields are set on update (Directus's
payload service sets them on update only). Each item change runs the Flow (flows.py) after commit.
A project marked down answers 503 SERVICE_UNAVAILABLE to everything but /server/ping.
"""

from __future__ import annotations

import json
import secrets
from functools import wraps

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from apps.core.sandbox import sandbox_view
from apps.directus.sandbox import flows, query
from apps.directus.sandbox.state import SandboxDirectusCollection, SandboxDirectusItem, SandboxDirectusUser

FORBIDDEN_MESSAGE = "You don't have permission to access this."


class Problem(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self):
        return JsonResponse({"errors": [{"message": self.message, "extensions": {"code": self.code}}]},
                            status=self.status)


def forbidden() -> Problem:
    return Problem(403, "FORBIDDEN", FORBIDDEN_MESSAGE)


def invalid_payload(message: str) -> Problem:
    return Problem(400, "INVALID_PAYLOAD", message)


def token_of(request) -> str | None:
    token = request.GET.get("access_token")
    header = request.headers.get("Authorization")
    if header:
        parts = header.split(" ")
        if len(parts) == 2 and parts[0].lower() == "bearer":
            token = parts[1]
    return token


def authenticate(request) -> SandboxDirectusUser | None:
    token = token_of(request)
    if not token:
        return None
    user = SandboxDirectusUser.objects.select_related("project").filter(token=token).first()
    if user is None:
        raise Problem(401, "INVALID_CREDENTIALS", "Invalid user credentials.")
    return user


def api(view):
    @sandbox_view
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            user = authenticate(request)
            if user is not None and user.project.is_down:
                raise Problem(503, "SERVICE_UNAVAILABLE", "Service is unavailable.")
            if request.method in ("GET", "HEAD"):
                # Reads take no write lock: on SQLite a reader must not wait for a console transaction that
                # is itself waiting for this answer (a webhook handler reading items back).
                return view(request, user, *args, **kwargs)
            with transaction.atomic():
                return view(request, user, *args, **kwargs)
        except Problem as problem:
            return problem.response()
        except query.InvalidQuery as exc:
            return Problem(400, "INVALID_QUERY", str(exc)).response()

    return wrapper


def allow(request, *methods):
    if request.method not in methods:
        raise Problem(404, "ROUTE_NOT_FOUND", f"Route {request.path} doesn't exist.")


def body_of(request):
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        raise invalid_payload("Invalid JSON body.") from None


def collection_for(user, name: str, action: str) -> SandboxDirectusCollection:
    if user is None or not user.may(name, action):
        raise forbidden()
    collection = SandboxDirectusCollection.objects.filter(project=user.project, name=name).first()
    if collection is None:
        raise forbidden()
    return collection


def require_admin(user):
    if user is None or not user.is_admin:
        raise forbidden()


# Server and identity ----------------------------------------------------------------------------------

@sandbox_view
def ping(request):
    return HttpResponse("pong", content_type="text/html; charset=utf-8")


@api
def users_me(request, user):
    allow(request, "GET")
    if user is None:
        raise forbidden()
    return JsonResponse({"data": {"id": f"user-{user.pk}", "email": user.email, "first_name": user.first_name,
                                  "role": "administrator" if user.is_admin else "console-mirror"}})


OAS_METHODS = {"read": "get", "create": "post", "update": "patch", "delete": "delete"}


@api
def openapi(request, user):
    """An OpenAPI 3.0.1 document for this user only; `info.version` differs on every call (NOTES §3)."""
    allow(request, "GET")
    paths, tags = {}, []
    collections = SandboxDirectusCollection.objects.filter(project=user.project) if user else []
    for collection in collections:
        methods = {OAS_METHODS[action]: {"tags": [f"Items{collection.name.title()}"],
                                         "operationId": f"{action}Items{collection.name.title()}"}
                   for action in OAS_METHODS if user.may(collection.name, action)}
        if methods:
            paths[f"/items/{collection.name}"] = methods
            paths[f"/items/{collection.name}/{{id}}"] = {m: dict(v) for m, v in methods.items() if m != "post"}
            tags.append({"name": f"Items{collection.name.title()}", "x-collection": collection.name})
    return JsonResponse({"openapi": "3.0.1", "info": {"title": "Dynamic API Specification",
                                                      "version": secrets.token_hex(8)},
                         "servers": [{"url": request.build_absolute_uri("/sandbox/directus")}],
                         "paths": paths, "tags": tags})


# Schema -----------------------------------------------------------------------------------------------

def collection_json(collection: SandboxDirectusCollection) -> dict:
    return {"collection": collection.name, "meta": collection.meta, "schema": {"name": collection.name}}


def field_json(collection: SandboxDirectusCollection, field: dict) -> dict:
    return {"collection": collection.name, "field": field["field"], "type": field.get("type", "string"),
            "meta": field.get("meta") or {}, "schema": field.get("schema") or {}}


@api
def collections(request, user):
    allow(request, "GET", "POST")
    if user is None:
        raise forbidden()
    if request.method == "GET":
        visible = [c for c in SandboxDirectusCollection.objects.filter(project=user.project).order_by("name")
                   if user.is_admin or user.permissions.get(c.name)]
        return JsonResponse({"data": [collection_json(c) for c in visible]})
    require_admin(user)
    body = body_of(request)
    if not isinstance(body, dict) or not isinstance(body.get("collection"), str) or not body["collection"]:
        raise invalid_payload('"collection" is required')
    name = body["collection"]
    if name.startswith("directus_"):
        raise invalid_payload("Collections can't start with \"directus_\"")
    if SandboxDirectusCollection.objects.filter(project=user.project, name=name).exists():
        raise invalid_payload(f'Collection "{name}" already exists')
    fields = [f for f in body.get("fields") or [] if isinstance(f, dict) and f.get("field")]
    if not any((f.get("schema") or {}).get("is_primary_key") for f in fields):
        fields.insert(0, {"field": "id", "type": "integer",
                          "schema": {"is_primary_key": True, "has_auto_increment": True}, "meta": {"hidden": True}})
    collection = SandboxDirectusCollection.objects.create(project=user.project, name=name,
                                                          meta=body.get("meta") or {}, fields=fields)
    return JsonResponse({"data": collection_json(collection)})


@api
def collection_detail(request, user, name):
    allow(request, "GET")
    if user is None or not (user.is_admin or user.permissions.get(name)):
        raise forbidden()
    collection = SandboxDirectusCollection.objects.filter(project=user.project, name=name).first()
    if collection is None:
        raise forbidden()
    return JsonResponse({"data": collection_json(collection)})


@api
def fields(request, user, name):
    allow(request, "GET", "POST")
    if user is None or not (user.is_admin or user.permissions.get(name)):
        raise forbidden()
    collections = SandboxDirectusCollection.objects.filter(project=user.project, name=name)
    collection = (collections.select_for_update() if request.method == "POST" else collections).first()
    if collection is None:
        raise forbidden()
    if request.method == "GET":
        return JsonResponse({"data": [field_json(collection, f) for f in collection.fields]})
    require_admin(user)
    body = body_of(request)
    if not isinstance(body, dict) or not isinstance(body.get("field"), str) or not body["field"]:
        raise invalid_payload('"field" is required')
    if collection.field(body["field"]):
        raise invalid_payload(f'Field "{body["field"]}" already exists in collection "{name}"')
    field = {"field": body["field"], "type": body.get("type") or "string", "meta": body.get("meta") or {},
             "schema": body.get("schema") or {}}
    collection.fields = [*collection.fields, field]
    collection.save(update_fields=["fields"])
    return JsonResponse({"data": field_json(collection, field)})


# Items ------------------------------------------------------------------------------------------------

def now_iso() -> str:
    now = timezone.now()
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def coerce(collection: SandboxDirectusCollection, data: dict) -> dict:
    """Check and cast written values the way the database column would (unknown fields refused: UNCONFIRMED)."""
    out = {}
    for name, value in data.items():
        field = collection.field(name)
        if field is None:
            raise invalid_payload(f'Field "{name}" doesn\'t exist in collection "{collection.name}".')
        kind = field.get("type")
        if value is None:
            out[name] = None
        elif kind == "boolean":
            out[name] = value if isinstance(value, bool) else str(value).lower() in ("1", "true")
        elif kind == "integer":
            try:
                out[name] = int(value)
            except (TypeError, ValueError):
                raise Problem(400, "FAILED_VALIDATION", f'Value for field "{name}" has to be an integer.') from None
        elif kind in ("decimal", "float"):
            try:
                out[name] = str(value) if kind == "decimal" else float(value)
                float(value)
            except (TypeError, ValueError):
                raise Problem(400, "FAILED_VALIDATION", f'Value for field "{name}" has to be a number.') from None
        else:
            out[name] = value
    return out


def full_item(collection, item: SandboxDirectusItem) -> dict:
    return {f["field"]: item.data.get(f["field"]) for f in collection.fields} | {collection.primary_key: item.key}


def stamp_updated(collection, data: dict) -> dict:
    for field in collection.fields:
        if "date-updated" in ((field.get("meta") or {}).get("special") or []):
            data[field["field"]] = now_iso()
    return data


def create_item(user, collection, data) -> SandboxDirectusItem:
    if not isinstance(data, dict):
        raise invalid_payload("Items must be objects.")
    pk = collection.primary_key
    data = coerce(collection, data)
    key = data.pop(pk, None)
    if key in (None, ""):
        raise Problem(400, "FAILED_VALIDATION", f'Validation failed for field "{pk}". Value is required.')
    key = str(key)
    if SandboxDirectusItem.objects.filter(collection=collection, key=key).exists():
        raise Problem(400, "RECORD_NOT_UNIQUE",
                      f'Value "{key}" for field "{pk}" in collection "{collection.name}" has to be unique.')
    item = SandboxDirectusItem.objects.create(collection=collection, key=key, data=data)
    flows.on_item_change(user.project, collection.name, "create", key, data)
    return item


def update_item(user, collection, item: SandboxDirectusItem, data) -> SandboxDirectusItem:
    if not isinstance(data, dict):
        raise invalid_payload("Update data must be an object.")
    data = coerce(collection, {k: v for k, v in data.items() if k != collection.primary_key})
    item.data = {**item.data, **stamp_updated(collection, dict(data))}
    item.save(update_fields=["data"])
    flows.on_item_change(user.project, collection.name, "update", item.key, data)
    return item


def delete_item(user, collection, item: SandboxDirectusItem) -> None:
    key = item.key
    item.delete()
    flows.on_item_change(user.project, collection.name, "delete", key, [key])


def existing(collection, key) -> SandboxDirectusItem:
    item = SandboxDirectusItem.objects.filter(collection=collection, key=str(key)).first()
    if item is None:
        raise forbidden()  # as for an item the token may not touch (NOTES §2.3)
    return item


def read_back(request, collection, items):
    rows = [full_item(collection, item) for item in items]
    wanted = query.parse_fields(request.GET)
    if wanted:
        rows = [{name: row.get(name) for name in wanted} for row in rows]
    return rows


def selected(collection, body) -> list[SandboxDirectusItem]:
    """Items named by a batch body's `keys` or `query` (NOTES §2: `{"keys": [...]}`, `{"query": {...}}`)."""
    if "keys" in body:
        return [existing(collection, key) for key in body["keys"] or []]
    rule = (body.get("query") or {}).get("filter")
    items = list(collection.items.all())
    return [item for item in items if not rule or query.matches(full_item(collection, item), rule)]


@api
def items(request, user, name):
    allow(request, "GET", "POST", "PATCH", "DELETE")
    action = {"GET": "read", "POST": "create", "PATCH": "update", "DELETE": "delete"}[request.method]
    collection = collection_for(user, name, action)
    if request.method == "GET":
        rows, meta = query.run([full_item(collection, item) for item in collection.items.all()], request.GET)
        return JsonResponse({"data": rows, **({"meta": meta} if meta is not None else {})})
    body = body_of(request)
    if request.method == "POST":
        if isinstance(body, list):
            created = [create_item(user, collection, data) for data in body]
            return JsonResponse({"data": read_back(request, collection, created)})
        created = create_item(user, collection, body)
        return JsonResponse({"data": read_back(request, collection, [created])[0]})
    if request.method == "PATCH":
        if isinstance(body, list):
            pk = collection.primary_key
            updated = []
            for data in body:
                if not isinstance(data, dict) or data.get(pk) in (None, ""):
                    raise invalid_payload(f'Each item in a batch update needs its primary key "{pk}".')
                updated.append(update_item(user, collection, existing(collection, data[pk]), data))
        elif isinstance(body, dict) and ("keys" in body or "query" in body) and isinstance(body.get("data"), dict):
            updated = [update_item(user, collection, item, body["data"]) for item in selected(collection, body)]
        else:
            raise invalid_payload('Batch update expects an array of items, or "keys"/"query" with "data".')
        return JsonResponse({"data": read_back(request, collection, updated)})
    if isinstance(body, list):
        targets = [existing(collection, key) for key in body]
    elif isinstance(body, dict) and ("keys" in body or "query" in body):
        targets = selected(collection, body)
    else:
        raise invalid_payload('Batch delete expects an array of keys, "keys" or "query".')
    for item in targets:
        delete_item(user, collection, item)
    return HttpResponse(status=204)


@api
def item(request, user, name, key):
    allow(request, "GET", "PATCH", "DELETE")
    action = {"GET": "read", "PATCH": "update", "DELETE": "delete"}[request.method]
    collection = collection_for(user, name, action)
    target = existing(collection, key)
    if request.method == "GET":
        return JsonResponse({"data": read_back(request, collection, [target])[0]})
    if request.method == "PATCH":
        update_item(user, collection, target, body_of(request) or {})
        return JsonResponse({"data": read_back(request, collection, [target])[0]})
    delete_item(user, collection, target)
    return HttpResponse(status=204)
