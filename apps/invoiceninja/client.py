"""Typed calls to the Invoice Ninja v5 API (NOTES §2–§12). Nothing but requests and their answers.

Amounts arrive as JSON floats; they are parsed straight from the response text into Decimal
(`parse_float=Decimal`) and written back as JSON numbers from the Decimal's own digits, so no value
ever passes through a binary float. Ids are opaque hashed strings; status ids are strings.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from django.views.decorators.debug import sensitive_variables
from redis.exceptions import RedisError

from apps.core import redis_clients
from apps.core.http import ApiClient, ClientError

logger = logging.getLogger(__name__)

API = "api/v1"
DEFAULT_PAGE_SIZE = 500  # the server caps per_page at 5000 (NOTES §5)
# Identical bulk actions (and same-amount payments) within one second are refused with 400 "Duplicate
# request" (NOTES §6): keep a margin above the second.
DUPLICATE_GUARD_SECONDS = 1.1
SERIAL_LOCK_TIMEOUT = 120


class ValidationFailed(ClientError):
    """422: the vendor refused some fields. `field_errors` maps each field to its messages."""

    def __init__(self, message, *, field_errors: dict[str, list[str]], **kwargs):
        super().__init__(message, **kwargs)
        self.field_errors = field_errors


class DuplicateRequest(ClientError):
    """400 "Duplicate request": the vendor's one-second guard refused a repeated bulk or payment call."""


@dataclass(frozen=True)
class ListPage:
    items: list[dict]
    current_page: int
    total_pages: int
    total: int

    @property
    def is_last(self) -> bool:
        return not self.items or self.current_page >= self.total_pages


def dumps(value) -> str:
    """JSON text in which a Decimal is written as a number with exactly its digits (json.dumps refuses Decimal)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"Montant invalide : {value}")
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def loads(content: bytes | str):
    return json.loads(content, parse_float=Decimal)


def field_errors_text(field_errors: dict) -> str:
    return " ; ".join(f"{field} : {' '.join(map(str, messages))}" for field, messages in field_errors.items())


_local_locks: dict[int, threading.Lock] = {}


class InvoiceNinjaClient(ApiClient):
    default_headers = {
        "Accept": "application/json",
        # Not checked by the server, but without it (or Accept json) errors come back as HTML/redirects.
        "X-Requested-With": "XMLHttpRequest",
    }
    # Pacing sleep for the duplicate guard; distinct from ApiClient.sleep (retry backoff) on purpose.
    pause = staticmethod(time.sleep)

    @sensitive_variables()
    def auth_headers(self) -> dict[str, str]:
        return {"X-API-TOKEN": self.connection.secret("api_token", "")}

    def error_message(self, response, payload) -> str:
        message = super().error_message(response, payload)
        if response.status_code == 403 and message.lower().startswith("invalid token"):
            return "Jeton API refusé par Invoice Ninja (Invalid token)."
        if response.status_code == 422 and isinstance(payload, dict) and isinstance(payload.get("errors"), dict):
            return f"Données refusées par Invoice Ninja : {field_errors_text(payload['errors'])}"[:300]
        return message

    # Transport ------------------------------------------------------------------------------------
    def call(self, method: str, path: str, *, params=None, body=None):
        headers = {}
        data = None
        if body is not None:
            data = dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self.request(method, f"{API}/{path}", params=params, data=data, headers=headers)
        except ClientError as exc:
            raise self._specific(exc) from None
        return loads(response.content) if response.content else None

    @staticmethod
    def _specific(exc: ClientError) -> ClientError:
        payload = exc.payload if isinstance(exc.payload, dict) else {}
        kwargs = {"status": exc.status, "payload": exc.payload, "request_id": exc.request_id}
        if exc.status == 422 and isinstance(payload.get("errors"), dict):
            errors = {field: list(messages) if isinstance(messages, list) else [str(messages)]
                      for field, messages in payload["errors"].items()}
            return ValidationFailed(str(exc), field_errors=errors, **kwargs)
        if exc.status == 400 and str(exc).lower().startswith("duplicate request"):
            return DuplicateRequest("Invoice Ninja a refusé une requête en double (moins d'une seconde d'écart).",
                                    **kwargs)
        return exc

    @contextmanager
    def serialized(self, guard: str):
        """One bulk/payment call at a time per company, and identical ones more than a second apart."""
        try:
            redis = redis_clients.for_queue("default")
            lock = redis.lock(f"invoiceninja:{self.connection.pk}:serial", timeout=SERIAL_LOCK_TIMEOUT,
                              blocking_timeout=SERIAL_LOCK_TIMEOUT)
            acquired = lock.acquire()
        except RedisError as exc:
            logger.warning("Verrou Redis indisponible (%s) : sérialisation locale au processus", exc)
            redis, lock, acquired = None, _local_locks.setdefault(self.connection.pk, threading.Lock()), None
            lock.acquire()
        if acquired is False:
            raise ClientError("Un autre envoi vers Invoice Ninja est en cours ; réessayez dans un instant.")
        last_key = f"invoiceninja:{self.connection.pk}:last:{guard}"
        try:
            last = float(redis.get(last_key) or 0) if redis is not None else 0.0
            wait = DUPLICATE_GUARD_SECONDS - (time.time() - last)
            if wait > 0:
                self.pause(wait)
            yield
        finally:
            try:
                if redis is not None:
                    redis.set(last_key, time.time(), ex=60)
            finally:
                lock.release()

    # Lists ----------------------------------------------------------------------------------------
    def list_page(self, entity: str, *, page: int = 1, per_page: int = DEFAULT_PAGE_SIZE,
                  sort: str = "id|asc", status: str | None = "active", updated_since: int | None = None,
                  **filters) -> ListPage:
        """One page of a list. `status=None` lists archived and deleted rows too (NOTES §5)."""
        params = {"per_page": per_page, "page": page, "sort": sort}
        if status:
            params["status"] = status
        if updated_since is not None:
            params["updated_at"] = int(updated_since)
        params.update({k: v for k, v in filters.items() if v is not None})
        answer = self.call("GET", entity, params=params) or {}
        pagination = (answer.get("meta") or {}).get("pagination") or {}
        items = answer.get("data") or []
        return ListPage(
            items=items,
            current_page=int(pagination.get("current_page", page)),
            total_pages=int(pagination.get("total_pages", page)),
            total=int(pagination.get("total", len(items))),
        )

    def changed_since(self, entity: str, updated_since: int | None, *, page: int,
                      per_page: int = DEFAULT_PAGE_SIZE) -> ListPage:
        """Incremental sync page: every row updated at or after `updated_since`, archived and deleted included."""
        return self.list_page(entity, page=page, per_page=per_page, sort="updated_at|asc", status=None,
                              updated_since=updated_since)

    # Items ----------------------------------------------------------------------------------------
    def _item(self, method, path, *, params=None, body=None) -> dict:
        return (self.call(method, path, params=params, body=body) or {}).get("data") or {}

    def ping(self) -> dict:
        return self.call("GET", "ping") or {}

    def get_client(self, client_id: str) -> dict:
        if not client_id:
            raise ValueError("Identifiant de client Invoice Ninja vide.")
        return self._item("GET", f"clients/{client_id}")

    def create_client(self, body: dict) -> dict:
        return self._item("POST", "clients", body=body)

    def update_client(self, client_id: str, body: dict) -> dict:
        """Leave `contacts` out of `body` to keep the client's contacts: when present, missing ones are deleted."""
        return self._item("PUT", f"clients/{client_id}", body=body)

    def get_quote(self, quote_id: str) -> dict:
        return self._item("GET", f"quotes/{quote_id}")

    def create_quote(self, body: dict) -> dict:
        return self._item("POST", "quotes", body=body)

    def update_quote(self, quote_id: str, body: dict) -> dict:
        return self._item("PUT", f"quotes/{quote_id}", body=body)

    def get_invoice(self, invoice_id: str) -> dict:
        return self._item("GET", f"invoices/{invoice_id}")

    def create_invoice(self, body: dict) -> dict:
        return self._item("POST", "invoices", body=body)

    def update_invoice(self, invoice_id: str, body: dict) -> dict:
        return self._item("PUT", f"invoices/{invoice_id}", body=body)

    def get_payment(self, payment_id: str) -> dict:
        return self._item("GET", f"payments/{payment_id}")

    def create_payment(self, body: dict, *, email_receipt: bool | None = None) -> dict:
        """`body["idempotency_key"]` (unique per company) turns a retried create into a 422 instead of a double."""
        params = None if email_receipt is None else {"email_receipt": str(email_receipt).lower()}
        guard = f"payment:{body.get('client_id')}:{body.get('amount')}"
        with self.serialized(guard):
            return self._item("POST", "payments", params=params, body=body)

    # Actions --------------------------------------------------------------------------------------
    def bulk(self, entity: str, action: str, ids: list[str]) -> list[dict]:
        """Bulk action; per-item failures are silently skipped by the vendor: re-read each returned status."""
        with self.serialized(f"{entity}:bulk:{action}"):
            answer = self.call("POST", f"{entity}/bulk", body={"action": action, "ids": list(ids)}) or {}
        data = answer.get("data")
        if isinstance(data, dict):
            return [data]
        return data or []

    def send_email(self, entity: str, entity_id: str, template: str) -> dict:
        """POST /emails: marks the entity sent, emails every invitation, fires `sent_<entity>` once."""
        with self.serialized(f"emails:{entity}:{entity_id}"):
            return self._item("POST", "emails", body={"entity": entity, "entity_id": entity_id, "template": template})

    def download_pdf(self, entity: str, invitation_key: str) -> bytes:
        """PDF of one invitation of a quote or invoice (`entity` is "quote" or "invoice")."""
        response = self.request("GET", f"{API}/{entity}/{invitation_key}/download",
                                headers={"Accept": "application/pdf"})
        return response.content

    # Webhook registrations (NOTES §14.1) ----------------------------------------------------------
    def list_webhooks(self, *, page: int = 1) -> ListPage:
        answer = self.call("GET", "webhooks", params={"per_page": 100, "page": page, "sort": "id|asc"}) or {}
        pagination = (answer.get("meta") or {}).get("pagination") or {}
        items = answer.get("data") or []
        return ListPage(items, int(pagination.get("current_page", page)), int(pagination.get("total_pages", page)),
                        int(pagination.get("total", len(items))))

    def create_webhook(self, *, target_url: str, event_id: int, headers: dict[str, str]) -> dict:
        body = {"target_url": target_url, "event_id": event_id, "rest_method": "post", "format": "JSON",
                "headers": headers}
        return self._item("POST", "webhooks", body=body)

    def update_webhook(self, webhook_id: str, *, target_url: str, event_id: int, headers: dict[str, str]) -> dict:
        body = {"target_url": target_url, "event_id": event_id, "rest_method": "post", "format": "JSON",
                "headers": headers}
        return self._item("PUT", f"webhooks/{webhook_id}", body=body)
