"""DocuSeal webhooks (NOTES §6): how a delivery is authenticated, which events exist, the dedupe key.

Authenticity, two independent mechanisms (NOTES §6.4), both checked on the raw bytes in constant time:
- `X-Docuseal-Signature: <t>.<hex>` = HMAC-SHA256 with the whole `whsec_…` secret (HMAC tab) as key over
  `"<t>.<raw body>"`, t in Unix seconds, 300 s of tolerance either way (DocuSeal >= 2.5.3). The connection's
  webhook secrets hold the HMAC secret(s).
- the Secret tab's custom header: a name (connection.config["secret_header_name"]) and a value (secret
  `webhook_header_value`) sent verbatim. When configured it is required on every delivery, in addition to
  the HMAC signature; on an instance older than 2.5.3 (no HMAC secret configured) it is the only check.
A connection with neither is refused with 503 (fail closed).

DocuSeal's settings-page test delivery is sent without `X-Docuseal-Signature` (NOTES §6.4): a delivery
from DocuSeal's user agent without it, whose custom header (if configured) is right, is answered 200 —
so DocuSeal's page shows the URL works — but stored `rejected` and never processed. Any other unsigned
delivery is a 400 and not stored. The hook never redirects (the kernel's view has no slash redirect).

Dedupe key: event type + data.id (submitter id for form.*, submission id for submission.*) + the body's
timestamp, which is stable across DocuSeal's retries of one event while the signature's is not; a repeated
`form.viewed` (one per page view) is a new event with a new timestamp (NOTES §6.5).
"""

from __future__ import annotations

import json

from apps.core.providers import EventDescription
from apps.core.webhooks.verifiers import (
    InvalidSignature,
    MissingSignature,
    NoSecretConfigured,
    SharedSecretHeader,
    TimestampedHexHmac,
    VerificationError,
)

SIGNATURE_HEADER = "X-Docuseal-Signature"
DOCUSEAL_USER_AGENT = "DocuSeal.com Webhook"
TOLERANCE_SECONDS = 300

# Every event type DocuSeal sends (app/models/webhook_url.rb EVENTS) with what the console does with it.
EVENTS = {
    "form.viewed": "handled",
    "form.started": "handled",
    "form.completed": "handled",
    "form.declined": "handled",
    "submission.created": "handled",
    "submission.completed": "handled",
    "submission.expired": "handled",
    "submission.archived": "handled",
    "template.created": "ignored",
    "template.updated": "ignored",
    "template.archived": "ignored",
}
# What an admin ticks in DocuSeal's Settings → Webhooks for this console.
EVENTS_TO_TICK = [name for name, use in EVENTS.items() if use == "handled"]


class UnsignedTestDelivery(VerificationError):
    """DocuSeal's test delivery: acknowledged (2xx) so DocuSeal shows success, kept as rejected, never processed."""

    status_code = 200


class DocusealVerifier(TimestampedHexHmac):
    def __init__(self, *, secret_header_name: str = "", secret_header_value: str = "", **kwargs):
        super().__init__(signature_header=SIGNATURE_HEADER, timestamp_in_signature=True,
                         tolerance_seconds=TOLERANCE_SECONDS, **kwargs)
        self.secret_header_name = secret_header_name
        self.secret_header_value = secret_header_value

    @property
    def has_custom_header(self) -> bool:
        return bool(self.secret_header_name and self.secret_header_value)

    def verify(self, headers, body, secrets) -> None:
        hmac_secrets = [secret for secret in secrets if secret]
        custom_header = self.has_custom_header
        if not hmac_secrets and not custom_header:
            raise NoSecretConfigured("Aucun secret de webhook configuré pour cette connexion.")
        if custom_header:
            SharedSecretHeader(self.secret_header_name).check(headers, body, [self.secret_header_value])
        if not hmac_secrets:
            return  # an instance older than 2.5.3: the custom header is all DocuSeal can send
        if not headers.get(SIGNATURE_HEADER):
            if (headers.get("User-Agent") or "").startswith(DOCUSEAL_USER_AGENT):
                raise UnsignedTestDelivery(
                    "Livraison de test DocuSeal non signée : reçue, conservée sans traitement.")
            raise MissingSignature(f"En-tête {SIGNATURE_HEADER} absent.", header=SIGNATURE_HEADER)
        self.check(headers, body, hmac_secrets)


def verifier(connection) -> DocusealVerifier:
    config = connection.config if connection is not None else {}
    return DocusealVerifier(
        secret_header_name=config.get("secret_header_name", ""),
        secret_header_value=connection.secret("webhook_header_value", "") if connection is not None else "",
    )


def parse(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("Corps JSON illisible") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("event_type"), str) \
            or not isinstance(payload.get("data"), dict):
        raise ValueError("Enveloppe DocuSeal inattendue : event_type ou data absent.")
    return payload


def describe_event(body: bytes) -> EventDescription:
    payload = parse(body)
    event_type = payload["event_type"]
    key = f"{event_type}:{payload['data'].get('id', '')}:{payload.get('timestamp', '')}"
    return EventDescription(event_type=event_type, event_key=key)


__all__ = ["EVENTS", "EVENTS_TO_TICK", "InvalidSignature", "describe_event", "parse", "verifier"]
