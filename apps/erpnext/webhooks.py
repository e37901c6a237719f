"""ERPNext (Frappe) webhooks: optional hints that one document changed (NOTES §10).

Signature: `X-Frappe-Webhook-Signature` = base64(HMAC-SHA256(secret, raw body)), checked by the kernel's
Base64BodyHmac over `request.body` (§10.4). No timestamp or event id is signed, so the console asks for a
JSON template naming the document and its version, and de-duplicates on (doctype, name, modified, event):

    {"doctype": "{{ doc.doctype }}", "name": "{{ doc.name }}", "modified": "{{ doc.modified }}",
     "event": "on_change"}

The event type is the doctype; every handled doctype triggers a targeted refresh (handlers.py). A
delivery's body is never taken as data: the document is read again through the API.
"""

from __future__ import annotations

import hashlib
import json

from apps.core.providers import EventDescription
from apps.core.webhooks.verifiers import Base64BodyHmac

SIGNATURE_HEADER = "X-Frappe-Webhook-Signature"
JSON_TEMPLATE = ('{"doctype": "{{ doc.doctype }}", "name": "{{ doc.name }}", '
                 '"modified": "{{ doc.modified }}", "event": "on_change"}')


def verifier() -> Base64BodyHmac:
    return Base64BodyHmac(SIGNATURE_HEADER)


def parse(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("Corps JSON illisible") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("doctype"), str) \
            or not isinstance(payload.get("name"), str) or not payload["doctype"] or not payload["name"]:
        raise ValueError("Le webhook ERPNext doit nommer « doctype » et « name » (voir le modèle JSON).")
    return payload


def describe_event(body: bytes) -> EventDescription:
    payload = parse(body)
    modified = payload.get("modified")
    if modified:
        key = f"{payload['doctype']}:{payload['name']}:{modified}:{payload.get('event', '')}"
    else:
        key = f"{payload['doctype']}:{payload['name']}:sha256:{hashlib.sha256(body).hexdigest()}"
    return EventDescription(event_type=payload["doctype"], event_key=key[:255])
