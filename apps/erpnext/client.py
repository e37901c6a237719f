"""Typed read-only calls to ERPNext v15 / Frappe v15 (NOTES §2–§5). Nothing else, and nothing that writes.

Read-only by construction, in three layers:
1. `ERPNextClient` offers reads only (list, one document, count, logged user, a permission question);
   it has no method that could create, change, submit, cancel or delete anything.
2. Its transport (`ReadOnlyTransport`) refuses, before anything is sent, any HTTP method but GET and any
   path but `/api/resource/<DocType>[/<name>]` or `/api/method/<one of READ_METHODS>`.
3. The connection's `requests.Session` carries a `ReadOnlyAdapter` on http:// and https:// that applies
   the same rule to whatever code uses that session, just before the bytes would leave.

Every request sends `Authorization: token <api_key>:<api_secret>` and `Accept: application/json` (without
it some errors come back as HTML pages, NOTES §3.5). Lists always send `order_by` ending in `name` (v15's
default order is undefined, NOTES §4) and `limit_page_length` (absent means 20 rows, 0 means all).
Currency and Float values arrive as JSON numbers and are kept as received; read them with `money()`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import quote, unquote, urlsplit

import threading

import requests
from requests.adapters import HTTPAdapter

from apps.core.http import ApiClient, ApiError, ClientError
from apps.core.models import Connection

DEFAULT_PAGE_SIZE = 500
# Whitelisted Frappe methods that only read (NOTES §2 probes, §5.2). frappe.client.has_permission is not in the
# notes; it is whitelisted in frappe/client.py (v14 to develop) and answers {"has_permission": bool}.
READ_METHODS = frozenset({
    "ping",
    "frappe.auth.get_logged_user",
    "frappe.client.get_count",
    "frappe.client.has_permission",
})
_ALLOWED_PATH = re.compile(r"/api/(?:resource/(?P<doctype>[^/]+)(?:/.+)?|method/(?P<method>[\w.]+))/?$")
_ORDER_BY = re.compile(r"^\s*[a-z_]+\s+(asc|desc)\s*(,\s*[a-z_]+\s+(asc|desc)\s*)*$", re.IGNORECASE)


class WriteRefused(ApiError):
    """The console asked for something other than a read: refused before it left the process."""


def check_read_only(method: str, url: str) -> None:
    """Raise WriteRefused unless this is a GET of a resource or of a whitelisted read method."""
    if (method or "").upper() != "GET":
        raise WriteRefused(f"Requête {method} refusée : la console ne fait que lire ERPNext.")
    match = _ALLOWED_PATH.search(unquote(urlsplit(url).path))
    if match is None or (match["method"] is not None and match["method"] not in READ_METHODS):
        raise WriteRefused("Chemin refusé : la console n'appelle que /api/resource et des méthodes de lecture.")


class ReadOnlyAdapter(HTTPAdapter):
    """Mounted on the connection's session: the last check before a request leaves, whoever built it."""

    def send(self, request, *args, **kwargs):
        check_read_only(request.method, request.url)
        return super().send(request, *args, **kwargs)


def money(value) -> Decimal:
    """A Frappe Currency/Float value (a JSON number, sometimes a string or null) as a Decimal."""
    if value in (None, ""):
        return Decimal("0")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal("0")


def server_messages(payload) -> list[str]:
    """The human messages of a v1 error body: `_server_messages` is JSON text of a list of JSON texts."""
    if not isinstance(payload, dict) or not isinstance(payload.get("_server_messages"), str):
        return []
    found = []
    try:
        for entry in json.loads(payload["_server_messages"]):
            message = json.loads(entry).get("message") if isinstance(entry, str) else None
            if isinstance(message, str) and message:
                found.append(re.sub(r"<[^>]+>", "", message))
    except (ValueError, AttributeError):
        return found
    return found


_sessions: dict[int, requests.Session] = {}
_sessions_lock = threading.Lock()


def read_only_session(connection: Connection) -> requests.Session:
    """One session per ERPNext connection, kept apart from the kernel's (other systems do write)."""
    with _sessions_lock:
        session = _sessions.get(connection.pk)
        if session is None:
            session = _sessions[connection.pk] = requests.Session()
            session.mount("http://", ReadOnlyAdapter())
            session.mount("https://", ReadOnlyAdapter())
        return session


class ReadOnlyTransport(ApiClient):
    """The kernel's HTTP base (timeouts, retries, ApiCall rows, circuit breaker), allowed to GET only."""

    default_headers = {"Accept": "application/json"}

    def __init__(self, connection: Connection):
        super().__init__(connection)
        self.session = read_only_session(connection)

    def auth_headers(self) -> dict[str, str]:
        key, secret = self.connection.secret("api_key"), self.connection.secret("api_secret")
        return {"Authorization": f"token {key}:{secret}"} if key and secret else {}

    def error_message(self, response, payload) -> str:
        messages = server_messages(payload)
        exc_type = payload.get("exc_type") if isinstance(payload, dict) else None
        if messages:
            text = " ".join(messages)
        elif isinstance(payload, dict) and isinstance(payload.get("exception"), str):
            text = payload["exception"].split(":", 1)[-1].strip()
        else:
            text = f"HTTP {response.status_code}"
        return (f"{exc_type} : {text}" if exc_type else text)[:300]

    def request(self, method, path, **kwargs):
        if kwargs.get("json") is not None or kwargs.get("data") is not None:
            raise WriteRefused("Corps de requête refusé : la console ne fait que lire ERPNext.")
        check_read_only(method, self.url(path))
        return super().request(method, path, **kwargs)

    def _refused(self, path, **kwargs):
        raise WriteRefused("La console ne fait que lire ERPNext.")

    post = put = patch = delete = _refused


def resource_path(doctype: str, name: str | None = None) -> str:
    path = f"api/resource/{quote(doctype, safe='')}"
    return f"{path}/{quote(name, safe='')}" if name is not None else path


class ERPNextClient:
    """What the console reads from ERPNext. There is deliberately no write method here."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self._transport = ReadOnlyTransport(connection)

    def list_documents(self, doctype: str, *, fields: list[str], order_by: str, filters=None, or_filters=None,
                       limit_start: int = 0, limit_page_length: int = DEFAULT_PAGE_SIZE) -> list[dict]:
        """One page of `GET /api/resource/<DocType>`; `order_by` must end with `name` (a unique tiebreaker)."""
        if not _ORDER_BY.match(order_by) or order_by.split(",")[-1].split()[0] != "name":
            raise ValueError("order_by doit se terminer par « name » (ordre par défaut indéfini en v15).")
        if not isinstance(limit_page_length, int) or limit_page_length < 1:
            raise ValueError("limit_page_length doit être un entier >= 1 (absent : 20 lignes ; 0 : tout).")
        params = {
            "fields": json.dumps(list(fields)),
            "order_by": order_by,
            "limit_start": int(limit_start),
            "limit_page_length": limit_page_length,
        }
        if filters:
            params["filters"] = json.dumps(filters)
        if or_filters:
            params["or_filters"] = json.dumps(or_filters)
        data = self._transport.get(resource_path(doctype), params=params).json().get("data")
        if not isinstance(data, list):
            raise ApiError("Réponse ERPNext inattendue : « data » n'est pas une liste.")
        return data

    def get_document(self, doctype: str, name: str) -> dict | None:
        """`GET /api/resource/<DocType>/<name>`; None when the document does not exist (404)."""
        try:
            return self._transport.get(resource_path(doctype, name)).json().get("data")
        except ClientError as exc:
            if exc.status == 404:
                return None
            raise

    def count(self, doctype: str, filters=None) -> int:
        params = {"doctype": doctype}
        if filters:
            params["filters"] = json.dumps(filters)
        return int(self._transport.get("api/method/frappe.client.get_count", params=params).json()["message"])

    def logged_user(self) -> str:
        return str(self._transport.get("api/method/frappe.auth.get_logged_user").json().get("message") or "")

    def has_permission(self, doctype: str, name: str, perm_type: str) -> bool:
        """Whether the API user may `perm_type` ("write", "submit"...) that document: a question, not an act."""
        answer = self._transport.get("api/method/frappe.client.has_permission",
                                     params={"doctype": doctype, "docname": name, "perm_type": perm_type}).json()
        message = answer.get("message")
        return bool(message.get("has_permission")) if isinstance(message, dict) else bool(message)
