"""Typed calls to the Directus REST API (NOTES §1–§3). Nothing but requests and their answers.

Static token as `Authorization: Bearer <token>` (never `?access_token=`: URLs get logged). Errors come as
`{"errors": [{"message", "extensions": {"code"}}]}`. Directus answers 403 FORBIDDEN for an item that does
not exist as for one the token may not see (existence does not leak): `get_item` turns that 403 into
`ItemMissingOrForbidden`, whose message says both possibilities in French.

The schema endpoints (`/collections`, `/fields/<collection>`) are not in the notes; their shapes follow the
Directus reference (UNCONFIRMED against 11.x source here), coded defensively: only `collection` / `field`
names are read from their answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from apps.core.http import ApiClient, AuthenticationError, ClientError

MESSAGES = {
    "INVALID_CREDENTIALS": "Jeton Directus refusé (identifiants invalides).",
    "INVALID_TOKEN": "Jeton Directus invalide.",
    "TOKEN_EXPIRED": "Jeton Directus expiré.",
    "SERVICE_UNAVAILABLE": "Directus est indisponible (SERVICE_UNAVAILABLE).",
    "REQUESTS_EXCEEDED": "Trop de requêtes vers Directus (REQUESTS_EXCEEDED).",
}


class ItemMissingOrForbidden(ClientError):
    """403 on one item: it does not exist, or the token may not read it — Directus does not say which."""


@dataclass(frozen=True)
class ItemsPage:
    items: list[dict]
    total: int | None  # filter_count, when asked for


def error_code(payload) -> str:
    try:
        return str(payload["errors"][0]["extensions"]["code"])
    except (KeyError, IndexError, TypeError):
        return ""


class DirectusClient(ApiClient):
    default_headers = {"Accept": "application/json"}

    def __init__(self, connection, *, token: str | None = None, **kwargs):
        super().__init__(connection, **kwargs)
        # Another token than the connection's: an admin's, for schema work the mirror's role may not do.
        self.token = token

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token or self.connection.secret('token', '')}"}

    def error_message(self, response, payload) -> str:
        code = error_code(payload)
        if code in MESSAGES:
            return MESSAGES[code]
        try:
            message = str(payload["errors"][0]["message"])[:250]
        except (KeyError, IndexError, TypeError):
            return super().error_message(response, payload)
        return f"Directus : {message}" + (f" ({code})" if code else "")

    # Transport ------------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, params=None, body=None):
        headers, data = {}, None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        response = self.request(method, path, params=params, data=data, headers=headers)
        if not response.content:
            return None
        return response.json()

    # Server and identity --------------------------------------------------------------------------
    def ping(self) -> str:
        return self.request("GET", "server/ping").text.strip()

    def me(self) -> dict:
        return (self.call("GET", "users/me") or {}).get("data") or {}

    def openapi(self) -> dict:
        """The OpenAPI document generated for this token: only what its policies allow (NOTES §3)."""
        return self.call("GET", "server/specs/oas") or {}

    # Items ----------------------------------------------------------------------------------------
    def list_items(self, collection: str, *, filter: dict | None = None, fields: list[str] | None = None,
                   sort: str | None = None, limit: int = 100, offset: int = 0, count: bool = False) -> ItemsPage:
        params = {"limit": limit, "offset": offset}
        if filter:
            params["filter"] = json.dumps(filter, separators=(",", ":"))
        if fields:
            params["fields"] = ",".join(fields)
        if sort:
            params["sort"] = sort
        if count:
            params["meta"] = "filter_count"
        answer = self.call("GET", f"items/{collection}", params=params) or {}
        meta = answer.get("meta") or {}
        return ItemsPage(items=list(answer.get("data") or []), total=meta.get("filter_count"))

    def get_item(self, collection: str, key: str) -> dict:
        try:
            return (self.call("GET", f"items/{collection}/{key}") or {}).get("data") or {}
        except AuthenticationError as exc:
            if exc.status == 403:
                raise ItemMissingOrForbidden(
                    f"Élément « {key} » absent de la collection « {collection} », ou non autorisé pour ce jeton "
                    "(Directus répond 403 dans les deux cas).",
                    status=403, payload=exc.payload, request_id=exc.request_id,
                ) from None
            raise

    def existing_keys(self, collection: str, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        page = self.list_items(collection, filter={"id": {"_in": list(keys)}}, fields=["id"], limit=-1)
        return {str(item.get("id")) for item in page.items}

    def create_items(self, collection: str, items: list[dict]) -> list[dict]:
        answer = self.call("POST", f"items/{collection}", params={"fields": "id"}, body=items) or {}
        return answer.get("data") or []

    def update_items(self, collection: str, items: list[dict]) -> list[dict]:
        """Batch PATCH with an array of objects that each include the primary key (NOTES §2)."""
        answer = self.call("PATCH", f"items/{collection}", params={"fields": "id"}, body=items) or {}
        return answer.get("data") or []

    def update_item(self, collection: str, key: str, data: dict) -> dict:
        return (self.call("PATCH", f"items/{collection}/{key}", body=data) or {}).get("data") or {}

    def delete_items(self, collection: str, keys: list[str]) -> None:
        self.call("DELETE", f"items/{collection}", body=list(keys))

    # Schema ---------------------------------------------------------------------------------------
    def collections(self) -> list[dict]:
        return (self.call("GET", "collections") or {}).get("data") or []

    def create_collection(self, definition: dict) -> dict:
        return (self.call("POST", "collections", body=definition) or {}).get("data") or {}

    def fields(self, collection: str) -> list[dict]:
        return (self.call("GET", f"fields/{collection}") or {}).get("data") or []

    def create_field(self, collection: str, definition: dict) -> dict:
        return (self.call("POST", f"fields/{collection}", body=definition) or {}).get("data") or {}
