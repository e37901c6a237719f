"""HTTP routes of the ERPNext emulator: `/api/resource/...` and the read methods the console calls.

Auth (NOTES §2): `Authorization: token <key>:<secret>` (split on one space, exactly two parts) or
`Basic base64(key:secret)`; a bad pair is a 401 AuthenticationError; no header runs as Guest, who may
read nothing (403). Errors have v1's shape (`exc_type`, `exception`, `exc`, `_server_messages` encoded
twice) as JSON when the Accept header asks for it or does not start with `text` (NOTES §3.5); a browser's
`text/html` gets Frappe's HTML "Not Permitted" page. Writes exist only for an API user granted write
access on a doctype (the console asks for none), so a read-only guard can be shown to be what stops them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import traceback

from django.http import HttpResponse, JsonResponse
from django.utils.html import escape

from apps.erpnext import catalogue
from apps.erpnext.sandbox import query, state
from apps.erpnext.sandbox.query import FrappeError
from apps.erpnext.sandbox.state import SandboxDocument, SandboxSite

HTML_TITLES = {403: "Not Permitted", 404: "Not Found", 401: "Not Permitted"}


# Answers ---------------------------------------------------------------------------------------------------------
def compact(data, status=200) -> HttpResponse:
    return HttpResponse(json.dumps(data, separators=(",", ":"), default=str), status=status,
                        content_type="application/json")


def wants_json(request) -> bool:
    accept = request.headers.get("Accept", "")
    ajax = request.headers.get("X-Requested-With") == "XMLHttpRequest"
    return bool(accept and (ajax or "application/json" in accept)) or not accept.startswith("text")


def error_response(request, error: FrappeError) -> HttpResponse:
    if not wants_json(request):
        title = HTML_TITLES.get(error.status, "Error")
        page = (f"<!DOCTYPE html><html><head><title>{title}</title></head><body><div class='page-card'>"
                f"<h2>{title}</h2><p>{escape(error.message)}</p></div></body></html>")
        return HttpResponse(page, status=error.status, content_type="text/html; charset=utf-8")
    message = {"message": error.message, "title": "Message", "indicator": "red", "raise_exception": 1}
    exception = f"frappe.exceptions.{error.exc_type}: {error.message}"
    body = {
        "exc_type": error.exc_type,
        "exception": exception,
        "exc": json.dumps([f"Traceback (most recent call last):\n  ...\n{exception}\n"]),
        "_server_messages": json.dumps([json.dumps(message)]),
    }
    return JsonResponse(body, status=error.status)


def frappe_view(view):
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except FrappeError as error:
            return error_response(request, error)
        except Exception as exc:  # what Frappe answers for an unexpected error: 500 with the traceback
            traceback.print_exc()
            return error_response(request, FrappeError(500, type(exc).__name__, str(exc)[:200]))

    wrapper.__name__ = view.__name__
    return wrapper


# Auth ------------------------------------------------------------------------------------------------------------
def authenticated_site(request) -> SandboxSite | None:
    """The site whose API key signed the request, None for Guest; a bad pair raises 401."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    parts = header.split(" ")
    if len(parts) != 2:
        return None
    scheme, token = parts
    if scheme.lower() == "basic":
        try:
            token = base64.b64decode(token, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise FrappeError(400, "InvalidAuthorizationToken", "Invalid Authorization token") from None
    elif scheme.lower() != "token":
        return None
    key, _, secret = token.partition(":")
    site = SandboxSite.objects.filter(api_key=key).first()
    if site is None or not hmac.compare_digest(site.api_secret.encode(), secret.encode()):
        raise FrappeError(401, "AuthenticationError", "Invalid Request")
    return site


def readable_site(request, doctype: str, ptype: str = "read") -> SandboxSite:
    site = authenticated_site(request)
    meta = catalogue.doctypes().get(doctype)
    if meta is None:
        raise FrappeError(404, "DoesNotExistError", f"DocType {doctype} not found")
    if site is None:
        raise FrappeError(403, "PermissionError", f"Insufficient Permission for {doctype}")
    if meta.get("istable"):
        # v15 requires `parent` for child doctypes and checks it (NOTES §4); not emulated beyond the refusal.
        raise FrappeError(403, "PermissionError", f"Insufficient Permission for {doctype}")
    allowed = site.can_read(doctype) if ptype == "read" else doctype in site.writable_doctypes
    if not allowed:
        raise FrappeError(403, "PermissionError",
                          f"User {site.user} does not have doctype access via role permission for document "
                          f"{doctype}")
    return site


# Routes ----------------------------------------------------------------------------------------------------------
@frappe_view
def resource_list(request, doctype: str):
    if request.method == "POST":
        return create_document(request, doctype)
    if request.method != "GET":
        raise FrappeError(403, "PermissionError", "Not permitted")
    site = readable_site(request, doctype)
    return compact({"data": query.list_rows(site, doctype, request.GET)})


@frappe_view
def resource_detail(request, doctype: str, name: str):
    if request.method in ("PUT", "DELETE"):
        site = readable_site(request, doctype, "write")
        document = SandboxDocument.objects.filter(site=site, doctype=doctype, name=name).first()
        if document is None:
            raise FrappeError(404, "DoesNotExistError", f"{doctype} {name} not found")
        if request.method == "DELETE":
            state.delete(site, doctype, name)
            return compact({"data": "ok"}, status=202)
        document = state.save_document(site, doctype, name, query.parse_json(request.body.decode() or "{}", {}))
        return compact({"data": document.data})
    if request.method != "GET":
        raise FrappeError(403, "PermissionError", "Not permitted")
    site = readable_site(request, doctype)
    document = SandboxDocument.objects.filter(site=site, doctype=doctype, name=name).first()
    if document is None:
        raise FrappeError(404, "DoesNotExistError", f"{doctype} {name} not found")
    columns = catalogue.columns(doctype)
    data = {field: query.value_of(document.data, entry) for field, entry in columns.items()}
    for field in catalogue.doctypes()[doctype]["fields"]:
        if field["fieldtype"] in catalogue.TABLE_TYPES:
            data[field["fieldname"]] = document.data.get(field["fieldname"], [])
    return compact({"data": {**data, "doctype": doctype}})


def create_document(request, doctype):
    site = readable_site(request, doctype, "write")
    body = query.parse_json(request.body.decode() or "{}", {})
    name = body.get("name") or f"{doctype[:4].upper()}-{SandboxDocument.objects.filter(site=site).count() + 1:05d}"
    return compact({"data": state.save_document(site, doctype, name, body, event="after_insert").data})


@frappe_view
def method(request, name: str):
    if name == "ping":
        return compact({"message": "pong"})
    handlers = {
        "frappe.auth.get_logged_user": logged_user,
        "frappe.client.get_count": get_count,
        "frappe.client.has_permission": has_permission,
    }
    if name not in handlers:
        raise FrappeError(404, "DoesNotExistError", f"Failed to get method for command {name}")
    site = authenticated_site(request)
    if site is None:
        raise FrappeError(403, "PermissionError", f"Function {name} is not whitelisted.")
    return compact({"message": handlers[name](request, site)})


def logged_user(request, site):
    return site.user


def get_count(request, site):
    # v15.44.2 counts with frappe.db.count: no doctype read-permission check (NOTES §5.2), faithfully so.
    doctype = request.GET.get("doctype", "")
    if doctype not in catalogue.doctypes():
        raise FrappeError(404, "DoesNotExistError", f"DocType {doctype} not found")
    return query.documents(site, doctype, request.GET).count()


def has_permission(request, site):
    doctype, docname = request.GET.get("doctype", ""), request.GET.get("docname", "")
    if doctype not in catalogue.doctypes():
        raise FrappeError(404, "DoesNotExistError", f"DocType {doctype} not found")
    if not SandboxDocument.objects.filter(site=site, doctype=doctype, name=docname).exists():
        raise FrappeError(404, "DoesNotExistError", f"{doctype} {docname} not found")
    perm_type = (request.GET.get("perm_type") or "read").lower()
    if perm_type in ("read", "select", "report"):
        allowed = site.can_read(doctype)
    else:
        allowed = doctype in site.writable_doctypes
    return {"has_permission": allowed}
