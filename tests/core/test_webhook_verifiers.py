"""The verifier classes against the vendors' signature vectors (tests/contracts/*/webhook-signature-vectors.json)."""

import json

import pytest

from apps.core.webhooks.verifiers import (
    Base64BodyHmac,
    InvalidSignature,
    MissingSignature,
    NoSecretConfigured,
    SharedSecretHeader,
    StaleTimestamp,
    TimestampedHexHmac,
)
from tests.contracts import CONTRACTS

REVOLUT = json.loads((CONTRACTS / "revolut" / "webhook-signature-vectors.json").read_text())
MAUTIC = json.loads((CONTRACTS / "mautic" / "webhook-signature-vectors.json").read_text())
REVOLUT_NOW = int(REVOLUT["timestamp_header"]) / 1000


def revolut_verifier(now=REVOLUT_NOW):
    return TimestampedHexHmac(signature_header="Revolut-Signature", timestamp_header="Revolut-Request-Timestamp",
                              signed_prefix="v1.", signature_prefix="v1=", timestamp_unit_ms=True,
                              clock=lambda: now)


def revolut_headers(signature, timestamp=REVOLUT["timestamp_header"]):
    return {"Revolut-Signature": signature, "Revolut-Request-Timestamp": timestamp}


@pytest.mark.parametrize("vector", REVOLUT["vectors"], ids=lambda v: v["name"])
def test_revolut_vectors_verify(vector):
    revolut_verifier().verify(revolut_headers(vector["expected_signature"]), vector["raw_body"].encode(),
                              [REVOLUT["signing_secret"]])


@pytest.mark.parametrize("vector", REVOLUT["vectors"], ids=lambda v: v["name"])
def test_revolut_body_with_a_trailing_newline_or_reserialised_fails(vector):
    raw = vector["raw_body"].encode()
    reserialised = json.dumps(json.loads(raw), indent=1).encode()
    for body in (raw + b"\n", reserialised):
        with pytest.raises(InvalidSignature):
            revolut_verifier().verify(revolut_headers(vector["expected_signature"]), body, [REVOLUT["signing_secret"]])


def test_revolut_header_with_several_signatures_passes_if_any_matches():
    vector = REVOLUT["vectors"][0]
    header = "v1=" + "0" * 64 + "," + vector["expected_signature"]
    revolut_verifier().verify(revolut_headers(header), vector["raw_body"].encode(), [REVOLUT["signing_secret"]])


def test_revolut_timestamp_more_than_five_minutes_away_is_stale():
    vector = REVOLUT["vectors"][0]
    with pytest.raises(StaleTimestamp):
        revolut_verifier(now=REVOLUT_NOW + 301).verify(
            revolut_headers(vector["expected_signature"]), vector["raw_body"].encode(), [REVOLUT["signing_secret"]]
        )


def test_revolut_timestamp_read_as_seconds_would_be_refused():
    # A verifier that forgot the milliseconds sees a date 50 000 years ahead.
    vector = REVOLUT["vectors"][0]
    seconds_verifier = TimestampedHexHmac(signature_header="Revolut-Signature",
                                          timestamp_header="Revolut-Request-Timestamp", signed_prefix="v1.",
                                          signature_prefix="v1=", clock=lambda: REVOLUT_NOW)
    with pytest.raises(StaleTimestamp):
        seconds_verifier.verify(revolut_headers(vector["expected_signature"]), vector["raw_body"].encode(),
                                [REVOLUT["signing_secret"]])


def test_mautic_vector_verifies_and_the_reserialised_body_does_not():
    verifier = Base64BodyHmac("Webhook-Signature")
    vector = MAUTIC["vectors"][0]
    headers = {"Webhook-Signature": vector["expected_webhook_signature"]}
    verifier.verify(headers, vector["raw_body"].encode(), [MAUTIC["secret"]])
    negative = MAUTIC["negative_cases"][0]
    with pytest.raises(InvalidSignature):
        verifier.verify(headers, negative["raw_body"].encode(), [MAUTIC["secret"]])


def test_mautic_signature_that_is_not_base64_is_invalid_not_a_crash():
    with pytest.raises(InvalidSignature):
        Base64BodyHmac("Webhook-Signature").verify({"Webhook-Signature": "%%%"}, b"{}", ["s"])


def test_no_secret_or_only_blank_secrets_fails_closed():
    verifier = Base64BodyHmac("Webhook-Signature")
    for secrets in ([], [""]):
        with pytest.raises(NoSecretConfigured):
            verifier.verify({"Webhook-Signature": "AAAA"}, b"{}", secrets)


def test_missing_header_is_its_own_error_with_status_400():
    with pytest.raises(MissingSignature) as exc:
        Base64BodyHmac("Webhook-Signature").verify({}, b"{}", ["s"])
    assert exc.value.status_code == 400


@pytest.mark.parametrize(("verifier", "headers", "missing"), [
    (Base64BodyHmac("Webhook-Signature"), {}, "Webhook-Signature"),
    (SharedSecretHeader("X-Console-Webhook-Token"), {"Webhook-Signature": "AAAA"}, "X-Console-Webhook-Token"),
    (revolut_verifier(), {"Revolut-Request-Timestamp": REVOLUT["timestamp_header"]}, "Revolut-Signature"),
    (revolut_verifier(), {"Revolut-Signature": "v1=00"}, "Revolut-Request-Timestamp"),
], ids=["base64 body", "shared secret", "signature beside its timestamp", "timestamp beside its signature"])
def test_an_unsigned_delivery_is_refused_naming_the_header_it_lacks(verifier, headers, missing):
    """The admin's webhook log reads that name in the rejected delivery's reason."""
    with pytest.raises(MissingSignature) as exc:
        verifier.verify(headers, b"{}", ["s"])
    assert exc.value.header == missing and str(exc.value) == f"En-tête {missing} absent."


def test_docuseal_signature_without_a_dot_is_invalid():
    verifier = TimestampedHexHmac(signature_header="X-Docuseal-Signature", timestamp_in_signature=True,
                                  clock=lambda: 1_000_000)
    with pytest.raises(InvalidSignature):
        verifier.verify({"X-Docuseal-Signature": "1000000"}, b"{}", ["whsec_x"])
