"""Invoice Ninja webhooks (NOTES §14): unsigned, one event per registration, a bare entity JSON body.

The console registers one URL per event, `<connection webhook url><event name>/`, with a secret header
in the registration's `headers` map; the inbox checks that header in constant time. The body does not
name the event, so the event comes from the URL, and the dedupe key is (event, entity id, updated_at,
digest of the body).
"""

from __future__ import annotations

import hashlib
import json

from apps.core.webhooks.verifiers import SharedSecretHeader

SECRET_HEADER = "X-Console-Webhook-Token"

# Event name -> the vendor's integer event_id (app/Models/Webhook.php).
EVENT_IDS = {
    "create_client": 1,
    "create_invoice": 2,
    "create_quote": 3,
    "create_payment": 4,
    "update_quote": 6,
    "delete_quote": 7,
    "update_invoice": 8,
    "delete_invoice": 9,
    "update_client": 10,
    "delete_client": 11,
    "delete_payment": 12,
    "approve_quote": 21,
    "update_payment": 31,
    "sent_invoice": 60,
    "sent_quote": 61,
}
EVENT_NAMES = {event_id: name for name, event_id in EVENT_IDS.items()}

# What the console registers: every event above has a handler (handlers.HANDLERS).
REGISTERED_EVENTS = tuple(EVENT_IDS)


def verifier() -> SharedSecretHeader:
    return SharedSecretHeader(SECRET_HEADER)


def event_key(event: str, entity: dict, body: bytes = b"") -> str:
    """(event, entity id, updated_at, body digest): updated_at has a one-second resolution, so two different
    updates of one entity in the same second differ only by their content; the same delivery twice is equal."""
    return f"{event}:{entity['id']}:{entity.get('updated_at', '')}:{hashlib.sha256(body).hexdigest()[:16]}"


def parse_entity(body: bytes) -> dict:
    """The delivered entity; ValueError when the body is not a JSON object with an `id`."""
    try:
        entity = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("Corps JSON illisible") from exc
    if not isinstance(entity, dict) or not isinstance(entity.get("id"), str) or not entity["id"]:
        raise ValueError("Objet Invoice Ninja sans identifiant")
    return entity


def describe_event(body: bytes, url_event: str | None):
    from apps.core.providers import EventDescription

    entity = parse_entity(body)
    event = url_event or ""
    if event.isdigit():  # registrations made by hand may carry the numeric event id in the URL
        event = EVENT_NAMES.get(int(event), event)
    if not event:
        raise ValueError("Événement absent de l'URL")
    return EventDescription(event_type=event, event_key=event_key(event, entity, body))


def target_url(connection, event: str) -> str:
    return f"{connection.webhook_url()}{event}/"
