"""Test-double providers for the kernel's webhook tests, one per verifier scheme (registered in tests only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

from apps.core import providers
from apps.core.models import Connection, TimelineEntry
from apps.core.providers import EventDescription, Provider
from apps.core.webhooks.verifiers import Base64BodyHmac, SharedSecretHeader, TimestampedHexHmac

HANDLED_TYPE = "thing.created"
# The Revolut vectors' timestamp (ms) as the double's fixed clock, in seconds.
REVOLUT_NOW = 1683650202.360
DOCUSEAL_NOW = 1767225600.0


def record_effect(event):
    """The double's handler: one timeline row per run, so a second effect is visible."""
    TimelineEntry.record(event.connection, f"effet {event.provider_event_id}", webhook_event=event)


class DoubleProvider(Provider):
    def __init__(self, key, verifier, handlers=None):
        self.key = key
        self.label = f"Double {key}"
        self._verifier = verifier
        self.webhook_handlers = {HANDLED_TYPE: record_effect} if handlers is None else handlers

    def verifier(self, connection):
        return self._verifier

    def describe_event(self, body, headers, url_event):
        payload = json.loads(body)
        if not isinstance(payload, dict) or "id" not in payload:
            raise ValueError("corps inattendu")
        return EventDescription(event_type=url_event or str(payload.get("type", "")), event_key=str(payload["id"]))


def payload(event_type=HANDLED_TYPE, event_id=None, **extra) -> bytes:
    return json.dumps({"id": event_id or str(uuid.uuid4()), "type": event_type, **extra}).encode()


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def b64_hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def make_connection(provider_key, webhook_secrets, **fields) -> Connection:
    slug = fields.pop("slug", f"{provider_key}-{uuid.uuid4().hex[:8]}")
    return Connection.objects.create(provider=provider_key, name=slug, slug=slug,
                                     webhook_secrets=list(webhook_secrets), **fields)


class SharedSecretScheme:
    """Like Invoice Ninja: a static secret we registered, sent back as a custom header."""

    provider_key = "double-shared"
    signature_headers = ("X-Webhook-Secret",)
    has_timestamp = False

    def provider(self, handlers=None):
        return DoubleProvider(self.provider_key, SharedSecretHeader("X-Webhook-Secret"), handlers)

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        return (payload() if body is None else body), {"X-Webhook-Secret": secret}

    def tampered_delivery(self, secret):
        # The body is not signed in this scheme: tampering means presenting an altered secret.
        body, _ = self.signed_delivery(secret)
        return body, {"X-Webhook-Secret": secret[:-1] + ("x" if secret[-1] != "x" else "y")}


class Base64BodyScheme:
    """Like Mautic `Webhook-Signature` / Frappe `X-Frappe-Webhook-Signature`."""

    provider_key = "double-b64"
    signature_headers = ("Webhook-Signature",)
    has_timestamp = False

    def provider(self, handlers=None):
        return DoubleProvider(self.provider_key, Base64BodyHmac("Webhook-Signature"), handlers)

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        body = payload() if body is None else body
        return body, {"Webhook-Signature": b64_hmac(secret, body)}


class RevolutLikeScheme:
    """Like Revolut: `Revolut-Signature: v1=<hex>` over `v1.<ts ms>.<body>`, on a fixed clock."""

    provider_key = "double-revolut"
    signature_headers = ("Revolut-Signature", "Revolut-Request-Timestamp")
    has_timestamp = True

    def provider(self, handlers=None):
        verifier = TimestampedHexHmac(
            signature_header="Revolut-Signature", timestamp_header="Revolut-Request-Timestamp",
            signed_prefix="v1.", signature_prefix="v1=", timestamp_unit_ms=True, clock=lambda: REVOLUT_NOW,
        )
        return DoubleProvider(self.provider_key, verifier, handlers)

    def now(self):
        return REVOLUT_NOW

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        body = payload() if body is None else body
        ts = str(int((REVOLUT_NOW if timestamp is None else timestamp) * 1000))
        return body, {"Revolut-Request-Timestamp": ts,
                      "Revolut-Signature": "v1=" + hex_hmac(secret, f"v1.{ts}.".encode() + body)}


class DocusealLikeScheme:
    """Like DocuSeal >= 2.5.3: `X-Docuseal-Signature: <t>.<hex>` over `<t>.<body>`, seconds."""

    provider_key = "double-docuseal"
    signature_headers = ("X-Docuseal-Signature",)
    has_timestamp = True

    def provider(self, handlers=None):
        verifier = TimestampedHexHmac(signature_header="X-Docuseal-Signature", timestamp_in_signature=True,
                                      clock=lambda: DOCUSEAL_NOW)
        return DoubleProvider(self.provider_key, verifier, handlers)

    def now(self):
        return DOCUSEAL_NOW

    def signed_delivery(self, secret, *, timestamp=None, body=None):
        body = payload() if body is None else body
        ts = str(int(DOCUSEAL_NOW if timestamp is None else timestamp))
        return body, {"X-Docuseal-Signature": f"{ts}." + hex_hmac(secret, f"{ts}.".encode() + body)}


SCHEMES = (SharedSecretScheme, Base64BodyScheme, RevolutLikeScheme, DocusealLikeScheme)


class RegisteredScheme:
    """Mixin for suite subclasses: register the scheme's double provider for the duration of each test."""

    def register_provider(self):
        providers.register(self.provider())

    def unregister_provider(self):
        providers.unregister(self.provider_key)

    def make_connection(self, webhook_secrets):
        return make_connection(self.provider_key, webhook_secrets)


class Hook:
    """A registered double provider plus one connection, and a way to post signed deliveries to it."""

    def __init__(self, scheme, connection, secret):
        self.scheme, self.connection, self.secret = scheme, connection, secret

    def post(self, body=None, *, secret=None, path=None, client=None, headers=None, **payload_fields):
        from django.test import Client

        body = body if body is not None else payload(**payload_fields)
        body, signed_headers = self.scheme.signed_delivery(secret or self.secret, body=body)
        return (client or Client()).post(path or self.connection.webhook_path(), data=body,
                                         content_type="application/json", headers=signed_headers | (headers or {}))


def registered_hook(scheme_class=Base64BodyScheme, handlers=None, secret="whsec-test-0123456789", **fields):
    """Register the scheme's double provider and return a Hook; pair with providers.unregister(key)."""
    scheme = scheme_class()
    providers.register(scheme.provider(handlers))
    return Hook(scheme, make_connection(scheme.provider_key, [secret], **fields), secret)
