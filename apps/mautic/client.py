"""Typed calls to the Mautic 5 REST API (NOTES §1–§3). Nothing but requests and their answers.

`Connection.base_url` is the Mautic site URL; API routes live under `/api`, OAuth2 under `/oauth/v2`.
Authentication (NOTES §2): HTTP Basic when the connection holds `username`/`password`, otherwise OAuth2
bearer tokens refreshed single-flight through apps.core.oauth2. Errors come in one envelope
`{"errors": [{"code", "message", "type"}]}`; the two configuration refusals (API disabled, Basic auth
disabled) get their own French message because a generic 403 would send an admin looking elsewhere.
Lists are objects keyed by id with a string `total` (NOTES §3.1): parsed here into plain lists and ints.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from django.utils.translation import gettext as _

from apps.core import oauth2
from apps.core.http import ApiClient, ApiError, AuthenticationError, ClientError

API = "api"
TOKEN_PATH = "oauth/v2/token"
DEFAULT_PAGE_SIZE = 100


class ApiDisabled(AuthenticationError):
    """403 type api_disabled: the API is switched off in Mautic's configuration."""


class BasicAuthDisabled(AuthenticationError):
    """403 type access_denied while using Basic: Basic auth is switched off in Mautic's configuration."""


class NotFound(ClientError):
    """404: the contact, email or segment does not exist (any more) in Mautic."""


@dataclass(frozen=True)
class ContactPage:
    contacts: list[dict]
    total: int
    start: int

    @property
    def next_start(self) -> int:
        return self.start + len(self.contacts)

    @property
    def is_last(self) -> bool:
        return not self.contacts or self.next_start >= self.total


def first_error(payload) -> dict:
    if isinstance(payload, dict) and isinstance(payload.get("errors"), list) and payload["errors"]:
        error = payload["errors"][0]
        return error if isinstance(error, dict) else {}
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):  # older single-error shape
        return payload["error"]
    return {}


def keyed_list(value) -> list[dict]:
    """Mautic's `{"<id>": {...}}` lists (an empty one may come as `[]`), in the order given."""
    if isinstance(value, dict):
        return [item for item in value.values() if isinstance(item, dict)]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def as_int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def uses_basic_auth(connection) -> bool:
    return bool(connection.secret("username"))


class TokenEndpoint(ApiClient):
    """POST /oauth/v2/token, form-encoded fields exactly as NOTES §2.2 (Mautic#9628: anything else fails)."""

    def error_message(self, response, payload):
        if isinstance(payload, dict) and isinstance(payload.get("error_description"), str):
            return payload["error_description"][:300]
        error = first_error(payload)
        if isinstance(error.get("message"), str):
            return error["message"][:300]
        return super().error_message(response, payload)

    def request_token(self, fields: dict) -> dict:
        connection = self.connection
        data = {"client_id": connection.secret("client_id", ""),
                "client_secret": connection.secret("client_secret", ""),
                **fields}
        return self.post(TOKEN_PATH, data=data, allow_retry=False).json()


def redirect_uri() -> str:
    from django.conf import settings
    from django.urls import reverse

    return settings.PUBLIC_BASE_URL + reverse("mautic:oauth_callback")


def refresh_is_revoked(exc: ApiError) -> bool:
    # NOTES §2.2: "Treat a 400 from the token endpoint during refresh as re-authorisation needed".
    return isinstance(exc, ClientError) and exc.status in (400, 401)


class MauticClient(ApiClient):
    default_headers = {"Accept": "application/json"}

    # Authentication -----------------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        if uses_basic_auth(self.connection):
            pair = f"{self.connection.secret('username', '')}:{self.connection.secret('password', '')}"
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        token = self.connection.oauth_token.get("access_token")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def before_request(self) -> None:
        if not uses_basic_auth(self.connection):
            self._ensure_token()

    def on_unauthorized(self, response) -> bool:
        if uses_basic_auth(self.connection):
            return False
        self._ensure_token(rejected_token=self.connection.oauth_token.get("access_token", ""))
        return True

    def _ensure_token(self, rejected_token: str | None = None) -> None:
        if not self.connection.oauth_token.get("refresh_token") and \
                self.connection.token_status != self.connection.TokenStatus.RECONNECT_REQUIRED:
            raise oauth2.ReconnectRequired(_("Mautic n'est pas encore autorisé : connectez la console (OAuth2) "
                                             "ou renseignez un utilisateur et un mot de passe (Basic)."))
        oauth2.ensure_fresh_token(
            self.connection, system="Mautic", rejected_token=rejected_token, is_revoked=refresh_is_revoked,
            refresh=lambda refresh_token: TokenEndpoint(self.connection).request_token(
                {"grant_type": "refresh_token", "refresh_token": refresh_token, "redirect_uri": redirect_uri()}),
        )

    def error_message(self, response, payload) -> str:
        error = first_error(payload)
        kind = error.get("type")
        if response.status_code == 403 and kind == "api_disabled":
            return _("L'API de Mautic est désactivée : activez-la dans Configuration → Paramètres de l'API "
                     "(« API activée »).")
        if response.status_code == 403 and kind == "access_denied" and uses_basic_auth(self.connection):
            return _("L'authentification Basic est désactivée dans Mautic : activez « Activer l'authentification "
                     "HTTP basique » dans Configuration → Paramètres de l'API.")
        if response.status_code == 401 and uses_basic_auth(self.connection):
            return _("Mautic refuse l'utilisateur ou le mot de passe (authentification Basic).")
        if response.status_code == 429:
            return _("Mautic limite le nombre d'appels à l'API (429) : nouvel essai plus tard.")
        if isinstance(error.get("message"), str):
            return f"Mautic : {error['message']}"[:300]
        return super().error_message(response, payload)

    # Transport ------------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, params=None, body=None) -> dict:
        try:
            response = self.request(method, f"{API}/{path}", params=params, json=body)
        except AuthenticationError as exc:
            kind = first_error(exc.payload).get("type")
            if exc.status == 403 and kind == "api_disabled":
                raise ApiDisabled(str(exc), status=exc.status, payload=exc.payload) from None
            if exc.status == 403 and kind == "access_denied" and uses_basic_auth(self.connection):
                raise BasicAuthDisabled(str(exc), status=exc.status, payload=exc.payload) from None
            raise
        except ClientError as exc:
            if exc.status == 404:
                raise NotFound(str(exc), status=404, payload=exc.payload) from None
            raise
        if not response.content:
            return {}
        try:
            answer = response.json()
        except ValueError:
            raise ClientError(_("Réponse de Mautic illisible (JSON attendu).")) from None
        return answer if isinstance(answer, dict) else {"items": answer}

    # Contacts (NOTES §3.1, §3.2) -----------------------------------------------------------------
    def list_contacts(self, *, start: int = 0, limit: int = DEFAULT_PAGE_SIZE, search: str = "",
                      modified_since: str | None = None) -> ContactPage:
        """One page, ordered by id (stable offset pagination); `modified_since`: `Y-m-d H:i:s`, inclusive."""
        params = {"start": start, "limit": limit, "orderBy": "id", "orderByDir": "ASC"}
        if search:
            params["search"] = search
        if modified_since:
            params.update({"where[0][col]": "date_modified", "where[0][expr]": "gte",
                           "where[0][val]": modified_since})
        answer = self.call("GET", "contacts", params=params)
        return ContactPage(contacts=keyed_list(answer.get("contacts")), total=as_int(answer.get("total")), start=start)

    def find_contact_by_email(self, email: str) -> dict | None:
        page = self.list_contacts(search=f"email:{email}", limit=5)
        wanted = email.strip().lower()
        return next((c for c in page.contacts if contact_email(c).lower() == wanted), None)

    def get_contact(self, contact_id: int) -> dict:
        return self.call("GET", f"contacts/{int(contact_id)}").get("contact") or {}

    def upsert_contact(self, fields: dict) -> tuple[dict, bool]:
        """POST /contacts/new: Mautic updates the contact with the same email (200) or creates one (201)."""
        response = self.request("POST", f"{API}/contacts/new", json=fields)
        return (response.json().get("contact") or {}), response.status_code == 201

    def edit_contact(self, contact_id: int, fields: dict) -> dict:
        """PATCH: 404 when the contact is gone (never re-created implicitly, unlike PUT)."""
        return self.call("PATCH", f"contacts/{int(contact_id)}/edit", body=fields).get("contact") or {}

    def add_do_not_contact(self, contact_id: int, *, reason: int = 3, comments: str = "") -> dict:
        body = {"reason": reason, "comments": comments}
        return self.call("POST", f"contacts/{int(contact_id)}/dnc/email/add", body=body).get("contact") or {}

    def contact_activity(self, contact_id: int, *, date_from: str | None = None, page: int = 1,
                         limit: int = 100) -> dict:
        params = {"page": page, "limit": limit, "order[0]": "timestamp", "order[1]": "ASC"}
        for index, event in enumerate(("email.sent", "email.read", "page.hit", "lead.donotcontact")):
            params[f"filters[includeEvents][{index}]"] = event
        if date_from:
            params["filters[dateFrom]"] = date_from
        return self.call("GET", f"contacts/{int(contact_id)}/activity", params=params)

    # Segments (NOTES §3.3) ------------------------------------------------------------------------
    def list_segments(self, *, search: str = "", limit: int = 100) -> list[dict]:
        params = {"limit": limit, "start": 0}
        if search:
            params["search"] = search
        return keyed_list(self.call("GET", "segments", params=params).get("lists"))

    def contact_segment_aliases(self, contact_id: int) -> set[str]:
        answer = self.call("GET", f"contacts/{int(contact_id)}/segments")
        return {str(segment.get("alias")) for segment in keyed_list(answer.get("lists"))}

    def create_segment(self, name: str, alias: str) -> dict:
        body = {"name": name, "alias": alias, "isPublished": 1, "isGlobal": 0}
        return self.call("POST", "segments/new", body=body).get("list") or {}

    def add_to_segment(self, segment_id: int, contact_id: int) -> bool:
        answer = self.call("POST", f"segments/{int(segment_id)}/contact/{int(contact_id)}/add")
        return bool(answer.get("success"))

    def remove_from_segment(self, segment_id: int, contact_id: int) -> bool:
        answer = self.call("POST", f"segments/{int(segment_id)}/contact/{int(contact_id)}/remove")
        return bool(answer.get("success"))

    # Emails (NOTES §3.4) --------------------------------------------------------------------------
    def list_emails(self, *, limit: int = 100) -> list[dict]:
        return keyed_list(self.call("GET", "emails", params={"limit": limit, "start": 0}).get("emails"))

    def get_email(self, email_id: int) -> dict:
        return self.call("GET", f"emails/{int(email_id)}").get("email") or {}

    def send_email_to_contact(self, email_id: int, contact_id: int, tokens: dict[str, str]) -> dict:
        """Transactional single send. Mautic IGNORES do-not-contact here: the caller checks first."""
        # Not retried on a 5xx: the email may have gone out; the action reports it instead.
        response = self.request("POST", f"{API}/emails/{int(email_id)}/contact/{int(contact_id)}/send",
                                json={"tokens": tokens}, allow_retry=False)
        return response.json() if response.content else {}

    # Webhooks (NOTES §3.8) ------------------------------------------------------------------------
    def list_hooks(self) -> list[dict]:
        return keyed_list(self.call("GET", "hooks", params={"limit": 100, "start": 0}).get("hooks"))

    def create_hook(self, *, name: str, url: str, secret: str, triggers: list[str]) -> dict:
        body = {"name": name, "webhookUrl": url, "secret": secret, "triggers": triggers, "isPublished": 1,
                "eventsOrderbyDir": "ASC"}
        return self.call("POST", "hooks/new", body=body).get("hook") or {}

    def edit_hook(self, hook_id: int, *, secret: str, triggers: list[str]) -> dict:
        body = {"secret": secret, "triggers": triggers, "isPublished": 1}
        return self.call("PATCH", f"hooks/{int(hook_id)}/edit", body=body).get("hook") or {}

    # Cheapest authenticated call --------------------------------------------------------------------
    def ping(self) -> ContactPage:
        return self.list_contacts(limit=1)


def contact_fields(contact: dict) -> dict:
    """Flat field values (`fields.all`), whichever serializer group produced the contact."""
    fields = contact.get("fields") if isinstance(contact.get("fields"), dict) else {}
    flat = fields.get("all") if isinstance(fields.get("all"), dict) else {}
    if not flat:
        for group in fields.values():
            if isinstance(group, dict):
                for alias, field in group.items():
                    if isinstance(field, dict) and "value" in field:
                        flat.setdefault(alias, field["value"])
    return flat


def contact_email(contact: dict) -> str:
    return str(contact_fields(contact).get("email") or "").strip()


def do_not_contact_reasons(contact: dict) -> list[int]:
    """Reasons of the contact's email DNC entries (1 unsubscribed, 2 bounced, 3 manual)."""
    entries = contact.get("doNotContact") if isinstance(contact.get("doNotContact"), list) else []
    return [as_int(e.get("reason")) for e in entries if isinstance(e, dict) and e.get("channel", "email") == "email"
            and as_int(e.get("reason"))]
