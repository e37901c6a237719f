"""Directus -> console deliveries (NOTES §4): a Flow's "Webhook / Request URL" operation, unsigned.

Directus cannot sign its requests, so the Flow sends a shared secret in the header `SECRET_HEADER`
(`{{$env.CONSOLE_WEBHOOK_TOKEN}}`, see flow_settings()); the inbox compares it in constant time with the
connection's webhook secrets. The body we ask for is the whole trigger, `{{$trigger}}`, whose exact shape is
UNCONFIRMED in the notes: we read only `event`, `collection`, `key` / `keys`, and treat the delivery as a
hint — the handler reads the items again from Directus before acting.

Directus sends no delivery id: the dedupe key is a hash of the body plus the minute it arrived, so an
accidental double call is stored once while a later identical edit is still processed (polling on
`date_updated` is the safety net for anything a Flow missed).
"""

from __future__ import annotations

import hashlib
import json

from django.utils import timezone

from apps.core.providers import EventDescription
from apps.core.webhooks.verifiers import SharedSecretHeader

SECRET_HEADER = "X-Console-Webhook-Token"
FLOW_ENV_VARIABLE = "CONSOLE_WEBHOOK_TOKEN"
EVENTS = ("items.create", "items.update", "items.delete")


def verifier() -> SharedSecretHeader:
    return SharedSecretHeader(SECRET_HEADER)


def parse_trigger(body: bytes) -> dict:
    try:
        trigger = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("Corps JSON illisible") from exc
    if not isinstance(trigger, dict):
        raise ValueError("Le corps doit être un objet JSON")
    return trigger


def event_type(trigger: dict) -> str:
    """`items.update` whatever the prefix Directus puts before it (`<collection>.items.update`)."""
    event = str(trigger.get("event") or "")
    marker = event.rfind("items.")
    return event[marker:] if marker >= 0 else event


def trigger_keys(trigger: dict) -> list[str]:
    """The item keys of a trigger: `keys` (list, or a list rendered as text) and/or `key`."""
    keys = trigger.get("keys")
    if isinstance(keys, str):
        try:
            keys = json.loads(keys)
        except json.JSONDecodeError:
            keys = [part.strip() for part in keys.split(",")]
    found = [str(key) for key in keys] if isinstance(keys, list) else []
    if trigger.get("key") not in (None, "") and str(trigger["key"]) not in found:
        found.append(str(trigger["key"]))
    return [key for key in found if key]


def describe_event(body: bytes) -> EventDescription:
    trigger = parse_trigger(body)
    minute = timezone.now().strftime("%Y%m%d%H%M")
    digest = hashlib.sha256(body).hexdigest()[:40]
    return EventDescription(event_type=event_type(trigger) or "unknown", event_key=f"{digest}:{minute}")


def flow_settings(connection, collections: list[str]) -> dict:
    """What an admin pastes into Directus to create the Flow (shown on the connection's page)."""
    return {
        "trigger": "Event Hook — Action (non bloquante)",
        "scope": ", ".join(EVENTS),
        "collections": collections,
        "operation": "Webhook / Request URL",
        "method": "POST",
        "url": connection.webhook_url(),
        "header_name": SECRET_HEADER,
        "header_value": "{{$env.%s}}" % FLOW_ENV_VARIABLE,
        "env_variable": FLOW_ENV_VARIABLE,
        "body": "{{$trigger}}",
    }
