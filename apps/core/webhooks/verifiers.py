"""Webhook signature schemes as small composable classes.

Every verifier works on the raw request bytes, compares in constant time and fails closed: no secret,
no header, or no match is a refusal. A connection may hold several active secrets (rotation); any one
of them passing is enough.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from django.views.decorators.debug import sensitive_variables


# Unix time in milliseconds has 13 digits until the year 2286; anything longer is not a timestamp.
MAX_TIMESTAMP_DIGITS = 16


class VerificationError(Exception):
    status_code = 401


class MissingSignature(VerificationError):
    status_code = 400

    def __init__(self, message: str, *, header: str):
        super().__init__(message)
        self.header = header  # the signature header that was expected, for the rejected delivery's reason


class InvalidSignature(VerificationError):
    status_code = 401


class StaleTimestamp(VerificationError):
    status_code = 401


class NoSecretConfigured(VerificationError):
    status_code = 503


@sensitive_variables()
def _hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


@sensitive_variables()
def _any_equal(candidates: Sequence[bytes], expected: Sequence[bytes]) -> bool:
    # Compare every pair so the time spent does not depend on which secret matched.
    matched = False
    for candidate in candidates:
        for value in expected:
            matched |= hmac.compare_digest(candidate, value)
    return matched


class Verifier:
    @sensitive_variables("secrets", "active_secrets")
    def verify(self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> None:
        active_secrets = [secret for secret in secrets if secret]
        if not active_secrets:
            raise NoSecretConfigured("Aucun secret de webhook configuré pour cette connexion.")
        self.check(headers, body, active_secrets)

    def check(self, headers, body, secrets) -> None:
        raise NotImplementedError

    @staticmethod
    def header(headers: Mapping[str, str], name: str) -> str:
        value = headers.get(name)
        if not value:
            raise MissingSignature(f"En-tête {name} absent.", header=name)
        return value.strip()


class SharedSecretHeader(Verifier):
    """A static secret we registered as a custom header (Invoice Ninja)."""

    def __init__(self, header_name: str):
        self.header_name = header_name

    @sensitive_variables("secrets", "received")
    def check(self, headers, body, secrets):
        received = self.header(headers, self.header_name).encode()
        if not _any_equal([received], [s.encode() for s in secrets]):
            raise InvalidSignature("Secret partagé invalide.")


class Base64BodyHmac(Verifier):
    """base64(HMAC-SHA256(secret, raw body)) in one header (Mautic, Frappe/ERPNext)."""

    def __init__(self, header_name: str):
        self.header_name = header_name

    @sensitive_variables("secrets", "received")
    def check(self, headers, body, secrets):
        try:
            received = base64.b64decode(self.header(headers, self.header_name), validate=True)
        except (ValueError, TypeError):
            raise InvalidSignature("Signature non décodable.") from None
        if not _any_equal([received], [_hmac_sha256(s, body) for s in secrets]):
            raise InvalidSignature("Signature invalide.")


class TimestampedHexHmac(Verifier):
    """hex HMAC-SHA256 over `<prefix><timestamp>.<raw body>` with a freshness window.

    Revolut: `Revolut-Signature: v1=<hex>[,v1=<hex>...]`, timestamp header in milliseconds, signed
    string `v1.<ts>.<body>`. DocuSeal: `X-Docuseal-Signature: <t>.<hex>`, signed string `<t>.<body>`.
    """

    def __init__(self, *, signature_header: str, timestamp_header: str | None = None,
                 signed_prefix: str = "", signature_prefix: str = "", timestamp_in_signature: bool = False,
                 timestamp_unit_ms: bool = False, tolerance_seconds: int = 300, clock=time.time):
        self.signature_header = signature_header
        self.timestamp_header = timestamp_header
        self.signed_prefix = signed_prefix
        self.signature_prefix = signature_prefix
        self.timestamp_in_signature = timestamp_in_signature
        self.timestamp_unit_ms = timestamp_unit_ms
        self.tolerance_seconds = tolerance_seconds
        self.clock = clock

    @sensitive_variables("secrets", "received")
    def check(self, headers, body, secrets):
        raw_signature = self.header(headers, self.signature_header)
        if self.timestamp_in_signature:
            timestamp, _, hex_part = raw_signature.partition(".")
            signatures = [hex_part]
        else:
            timestamp = self.header(headers, self.timestamp_header)
            signatures = [part.strip() for part in raw_signature.split(",") if part.strip()]
        self._check_fresh(timestamp)
        received = []
        for signature in signatures:
            if self.signature_prefix:
                if not signature.startswith(self.signature_prefix):
                    continue
                signature = signature[len(self.signature_prefix):]
            try:
                received.append(bytes.fromhex(signature))
            except ValueError:
                continue
        if not received:
            raise InvalidSignature("Signature illisible.")
        message = f"{self.signed_prefix}{timestamp}.".encode() + body
        if not _any_equal(received, [_hmac_sha256(s, message) for s in secrets]):
            raise InvalidSignature("Signature invalide.")

    def _check_fresh(self, timestamp: str):
        # Bounded before int(): thousands of digits would overflow the float division (OverflowError).
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
            raise InvalidSignature("Horodatage illisible.")
        seconds = int(timestamp) / (1000 if self.timestamp_unit_ms else 1)
        if abs(self.clock() - seconds) > self.tolerance_seconds:
            raise StaleTimestamp("Horodatage hors de la fenêtre de tolérance.")
