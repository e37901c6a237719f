"""Mautic webhooks (NOTES §4): the signature scheme, the event types handled, and the dedupe key.

Signature: `Webhook-Signature: base64(HMAC-SHA256(secret, raw body))`, no timestamp. Verified on the raw
bytes: Mautic's PHP json_encode escapes `/` as `\\/`, so a re-serialised body would never match.
A delivery is `{"<event type>": [payload, ...], ...}`: one event per request in immediate mode, up to
`webhook_limit` events of several types in queue mode. Such a batch is stored as one WebhookEvent of type
`mautic.batch` (or of its single type); the handler walks every payload. Mautic sends no event id, so the
key is the body's SHA-256; each payload is also recorded under its own key (apps/mautic/activity.py),
so the same event in two different batches is not recorded twice either.
The "Send Test Payload" button posts objects instead of lists and a top-level `timestamp`: tolerated.
"""

from __future__ import annotations

import hashlib
import json

from apps.core.providers import EventDescription
from apps.core.webhooks.verifiers import Base64BodyHmac

SIGNATURE_HEADER = "Webhook-Signature"
BATCH = "mautic.batch"
SUBSCRIBED_EVENTS = [
    "mautic.email_on_send",
    "mautic.email_on_open",
    "mautic.page_on_hit",
    "mautic.lead_channel_subscription_changed",
    "mautic.lead_post_save_new",
    "mautic.lead_post_save_update",
    "mautic.lead_post_delete",
]


def verifier() -> Base64BodyHmac:
    return Base64BodyHmac(SIGNATURE_HEADER)


def parse(body: bytes) -> list[tuple[str, dict]]:
    """(event type, payload) for every payload of the delivery, in order; ValueError when malformed."""
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError("Corps JSON illisible") from exc
    if not isinstance(envelope, dict):
        raise ValueError("Enveloppe Mautic inattendue : objet attendu.")
    events = []
    for event_type, payloads in envelope.items():
        if event_type == "timestamp" or not isinstance(event_type, str):
            continue
        if isinstance(payloads, dict):
            payloads = [payloads]
        if not isinstance(payloads, list):
            raise ValueError(f"Événement {event_type} : liste attendue.")
        events += [(event_type, payload) for payload in payloads if isinstance(payload, dict)]
    if not events:
        raise ValueError("Aucun événement dans la livraison Mautic.")
    return events


def describe_event(body: bytes) -> EventDescription:
    types = {event_type for event_type, _payload in parse(body)}
    event_type = types.pop() if len(types) == 1 else BATCH
    return EventDescription(event_type=event_type, event_key=f"sha256:{hashlib.sha256(body).hexdigest()}")
