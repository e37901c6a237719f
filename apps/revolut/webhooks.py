"""Revolut webhooks v2: the signature scheme, the events we subscribe to and handle, and the dedupe key.

Signature (NOTES §4.4): `Revolut-Signature: v1=<hex>[,v1=<hex>...]` (several during a secret
rotation) over `v1.<Revolut-Request-Timestamp>.<raw body>`, timestamp in milliseconds, 5 minutes of
tolerance. The envelope has no event id (NOTES §4.2), so the key is derived from the event.
"""

from __future__ import annotations

import hashlib
import json

from django.utils.translation import gettext_lazy

from apps.core.providers import EventDescription
from apps.core.webhooks.verifiers import TimestampedHexHmac
from apps.revolut import handlers

EVENT_HANDLERS = {
    "TransactionCreated": handlers.transaction_created,
    "TransactionStateChanged": handlers.transaction_state_changed,
}
EVENT_LABELS = {
    "TransactionCreated": gettext_lazy("Transaction créée"),
    "TransactionStateChanged": gettext_lazy("État de transaction changé"),
}
SUBSCRIBED_EVENTS = list(EVENT_HANDLERS)
TOLERANCE_SECONDS = 300


def verifier(connection) -> TimestampedHexHmac:
    return TimestampedHexHmac(
        signature_header="Revolut-Signature",
        timestamp_header="Revolut-Request-Timestamp",
        signed_prefix="v1.",
        signature_prefix="v1=",
        timestamp_unit_ms=True,
        tolerance_seconds=TOLERANCE_SECONDS,
    )


def describe_event(body: bytes, headers, url_event: str | None) -> EventDescription:
    payload = json.loads(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        raise ValueError("Enveloppe Revolut inattendue : champ « event » absent.")
    event_type = payload["event"]
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    if data.get("id"):
        key = f"{event_type}:{data['id']}:{data.get('new_state') or 'created'}"
    else:
        key = f"{event_type}:sha256:{hashlib.sha256(body).hexdigest()}"
    return EventDescription(event_type=event_type, event_key=key)
