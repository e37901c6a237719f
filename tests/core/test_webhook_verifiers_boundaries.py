"""What an attacker could try against the signature schemes, and the exact edges of what passes.

Signatures are computed here with the standard library (an oracle independent of the code under test).
Each refusal names its class because the inbox maps it to a status: 400 missing, 401 invalid or stale,
503 no secret configured.
"""

import base64
import hashlib
import hmac

import pytest

from apps.core.webhooks.verifiers import (
    Base64BodyHmac,
    InvalidSignature,
    MissingSignature,
    NoSecretConfigured,
    SharedSecretHeader,
    StaleTimestamp,
    TimestampedHexHmac,
    VerificationError,
)

SECRET = "wsk_0123456789abcdef"
BODY = b'{"event":"TransactionCreated","data":{"id":"tx-1"}}'
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z in milliseconds
NOW = NOW_MS / 1000


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def revolut(now=NOW, tolerance_seconds=300):
    return TimestampedHexHmac(signature_header="Revolut-Signature", timestamp_header="Revolut-Request-Timestamp",
                              signed_prefix="v1.", signature_prefix="v1=", timestamp_unit_ms=True,
                              tolerance_seconds=tolerance_seconds, clock=lambda: now)


def revolut_signed(timestamp_ms=NOW_MS, body=BODY, secret=SECRET) -> dict:
    signature = hex_hmac(secret, f"v1.{timestamp_ms}.".encode() + body)
    return {"Revolut-Signature": f"v1={signature}", "Revolut-Request-Timestamp": str(timestamp_ms)}


def docuseal(now=NOW):
    return TimestampedHexHmac(signature_header="X-Docuseal-Signature", timestamp_in_signature=True,
                              clock=lambda: now)


def docuseal_signed(timestamp=int(NOW), body=BODY, secret=SECRET) -> dict:
    return {"X-Docuseal-Signature": f"{timestamp}.{hex_hmac(secret, f'{timestamp}.'.encode() + body)}"}


def test_status_codes_the_inbox_answers_for_each_refusal():
    assert (MissingSignature.status_code, InvalidSignature.status_code, StaleTimestamp.status_code,
            NoSecretConfigured.status_code, VerificationError.status_code) == (400, 401, 401, 503, 401)
    assert all(issubclass(cls, VerificationError)
               for cls in (MissingSignature, InvalidSignature, StaleTimestamp, NoSecretConfigured))


# Revolut: v1=<hex> over "v1.<ms>.<raw body>" ------------------------------------------------------------------
def test_a_correct_revolut_signature_passes():
    revolut().verify(revolut_signed(), BODY, [SECRET])


def test_a_signature_without_its_v1_prefix_is_refused():
    headers = revolut_signed()
    headers["Revolut-Signature"] = headers["Revolut-Signature"].removeprefix("v1=")
    with pytest.raises(InvalidSignature):
        revolut().verify(headers, BODY, [SECRET])


def test_a_signature_with_another_version_prefix_or_an_empty_one_is_refused():
    headers = revolut_signed()
    for forged in ("v0=" + headers["Revolut-Signature"].removeprefix("v1="), "v1="):
        with pytest.raises(InvalidSignature):
            revolut().verify({**headers, "Revolut-Signature": forged}, BODY, [SECRET])


def test_the_signed_string_includes_the_version_and_the_timestamp():
    over_body_only = {"Revolut-Signature": f"v1={hex_hmac(SECRET, BODY)}", "Revolut-Request-Timestamp": str(NOW_MS)}
    without_version = {"Revolut-Signature": f"v1={hex_hmac(SECRET, f'{NOW_MS}.'.encode() + BODY)}",
                       "Revolut-Request-Timestamp": str(NOW_MS)}
    other_timestamp = revolut_signed(timestamp_ms=NOW_MS - 1000)
    other_timestamp["Revolut-Request-Timestamp"] = str(NOW_MS)  # a replay with a fresh timestamp header
    for headers in (over_body_only, without_version, other_timestamp):
        with pytest.raises(InvalidSignature):
            revolut().verify(headers, BODY, [SECRET])


def test_a_signature_by_another_secret_or_over_another_body_is_refused():
    for headers, body in ((revolut_signed(secret="wsk_attacker"), BODY), (revolut_signed(), BODY + b" ")):
        with pytest.raises(InvalidSignature) as refusal:
            revolut().verify(headers, body, [SECRET])
        assert str(refusal.value) == "Signature invalide."


@pytest.mark.parametrize("offset_ms, passes", [(300_000, True), (300_001, False), (-300_000, True), (-300_001, False)])
def test_the_timestamp_tolerance_is_five_minutes_either_way_to_the_millisecond(offset_ms, passes):
    headers = revolut_signed(timestamp_ms=NOW_MS + offset_ms)
    if passes:
        revolut().verify(headers, BODY, [SECRET])
    else:
        with pytest.raises(StaleTimestamp) as refusal:
            revolut().verify(headers, BODY, [SECRET])
        assert str(refusal.value) == "Horodatage hors de la fenêtre de tolérance."


def test_the_tolerance_is_the_one_configured():
    headers = revolut_signed(timestamp_ms=NOW_MS + 60_001)
    revolut(tolerance_seconds=61).verify(headers, BODY, [SECRET])
    with pytest.raises(StaleTimestamp):
        revolut(tolerance_seconds=60).verify(headers, BODY, [SECRET])


def test_a_stale_timestamp_is_refused_even_when_the_signature_is_right():
    with pytest.raises(StaleTimestamp):
        revolut(now=NOW + 3600).verify(revolut_signed(), BODY, [SECRET])


@pytest.mark.parametrize("timestamp", ["", "soon", "1.5e12", "0x1F"])
def test_an_unreadable_or_missing_timestamp_is_refused_not_a_crash(timestamp):
    headers = revolut_signed()
    headers["Revolut-Request-Timestamp"] = timestamp
    expected = MissingSignature if not timestamp else InvalidSignature
    with pytest.raises(expected) as refusal:
        revolut().verify(headers, BODY, [SECRET])
    if timestamp:
        assert str(refusal.value) == "Horodatage illisible."
    else:
        assert str(refusal.value) == "En-tête Revolut-Request-Timestamp absent."


def test_a_timestamp_is_read_up_to_sixteen_digits_and_refused_as_unreadable_beyond():
    # Zero-padded, the same instant signed as sent: 16 digits are a timestamp, 17 are not.
    revolut().verify(revolut_signed(timestamp_ms=f"{NOW_MS:016d}"), BODY, [SECRET])
    with pytest.raises(InvalidSignature) as refusal:
        revolut().verify(revolut_signed(timestamp_ms=f"{NOW_MS:017d}"), BODY, [SECRET])
    assert str(refusal.value) == "Horodatage illisible."


def test_one_matching_signature_among_several_is_enough_and_garbage_ones_are_skipped():
    good = revolut_signed()["Revolut-Signature"]
    for header in (f"v1=zz-not-hex, {good}", f"v1={'0' * 64},{good}", f"{good} ,v1=abc"):
        revolut().verify({**revolut_signed(), "Revolut-Signature": header}, BODY, [SECRET])


@pytest.mark.parametrize("header", ["v1=not-hex", "sha256=abcdef", ",,"])
def test_a_header_with_no_readable_signature_is_refused(header):
    with pytest.raises(InvalidSignature) as refusal:
        revolut().verify({**revolut_signed(), "Revolut-Signature": header}, BODY, [SECRET])
    assert str(refusal.value) == "Signature illisible."


def test_while_secrets_rotate_either_secret_passes_and_a_retired_one_does_not():
    for secret in ("wsk_old", "wsk_new"):
        revolut().verify(revolut_signed(secret=secret), BODY, ["wsk_old", "wsk_new"])
    with pytest.raises(InvalidSignature):
        revolut().verify(revolut_signed(secret="wsk_retired"), BODY, ["wsk_old", "wsk_new"])


def test_a_blank_secret_is_never_a_key_an_attacker_can_sign_with():
    with pytest.raises(InvalidSignature):
        revolut().verify(revolut_signed(secret=""), BODY, ["", SECRET])
    with pytest.raises(NoSecretConfigured) as refusal:
        revolut().verify(revolut_signed(secret=""), BODY, ["", None])
    assert str(refusal.value) == "Aucun secret de webhook configuré pour cette connexion."


def test_a_missing_or_empty_signature_header_is_a_missing_signature():
    for headers in ({"Revolut-Request-Timestamp": str(NOW_MS)},
                    {"Revolut-Signature": "", "Revolut-Request-Timestamp": str(NOW_MS)}):
        with pytest.raises(MissingSignature) as refusal:
            revolut().verify(headers, BODY, [SECRET])
        assert str(refusal.value) == "En-tête Revolut-Signature absent."


def test_the_default_window_is_five_minutes_and_the_default_clock_is_now():
    import time

    now_ms = int(time.time() * 1000)
    default = TimestampedHexHmac(signature_header="Revolut-Signature", timestamp_header="Revolut-Request-Timestamp",
                                 signed_prefix="v1.", signature_prefix="v1=", timestamp_unit_ms=True)
    default.verify(revolut_signed(timestamp_ms=now_ms - 290_000), BODY, [SECRET])
    with pytest.raises(StaleTimestamp):
        default.verify(revolut_signed(timestamp_ms=now_ms - 310_000), BODY, [SECRET])


# DocuSeal: "<t>.<hex>" over "<t>.<raw body>", seconds ----------------------------------------------------------
def test_a_correct_docuseal_signature_passes_and_its_timestamp_is_in_seconds():
    docuseal().verify(docuseal_signed(), BODY, [SECRET])
    with pytest.raises(StaleTimestamp):
        docuseal(now=NOW + 301).verify(docuseal_signed(), BODY, [SECRET])
    docuseal(now=NOW + 300).verify(docuseal_signed(), BODY, [SECRET])


def test_a_docuseal_signature_moved_to_another_timestamp_is_refused():
    original = docuseal_signed(timestamp=int(NOW) - 10)["X-Docuseal-Signature"]
    moved = f"{int(NOW)}." + original.partition(".")[2]
    with pytest.raises(InvalidSignature):
        docuseal().verify({"X-Docuseal-Signature": moved}, BODY, [SECRET])


# Shared secret header (Invoice Ninja) ------------------------------------------------------------------------
def test_the_shared_secret_must_match_exactly():
    verifier = SharedSecretHeader("X-Console-Webhook-Token")
    verifier.verify({"X-Console-Webhook-Token": SECRET}, BODY, ["other", SECRET])
    verifier.verify({"X-Console-Webhook-Token": f"  {SECRET}\n"}, BODY, [SECRET])  # whitespace a proxy adds
    for wrong in (SECRET[:-1], SECRET + "x", SECRET.upper()):
        with pytest.raises(InvalidSignature) as refusal:
            verifier.verify({"X-Console-Webhook-Token": wrong}, BODY, [SECRET])
        assert str(refusal.value) == "Secret partagé invalide."
    with pytest.raises(MissingSignature) as refusal:
        verifier.verify({}, BODY, [SECRET])
    assert str(refusal.value) == "En-tête X-Console-Webhook-Token absent."


# base64 HMAC of the body (Mautic, ERPNext) -------------------------------------------------------------------
def test_a_base64_body_signature_passes_with_any_active_secret_and_not_with_another():
    signature = base64.b64encode(hmac.new(b"new", BODY, hashlib.sha256).digest()).decode()
    verifier = Base64BodyHmac("Webhook-Signature")
    verifier.verify({"Webhook-Signature": f"{signature}\n"}, BODY, ["old", "new"])
    with pytest.raises(InvalidSignature) as refusal:
        verifier.verify({"Webhook-Signature": signature}, BODY, ["old"])
    assert str(refusal.value) == "Signature invalide."
    with pytest.raises(InvalidSignature) as refusal:
        verifier.verify({"Webhook-Signature": "not base64!"}, BODY, ["new"])
    assert str(refusal.value) == "Signature non décodable."


def test_a_signature_of_another_version_listed_first_does_not_hide_the_v1_one():
    good = revolut_signed()["Revolut-Signature"]
    revolut().verify({**revolut_signed(), "Revolut-Signature": f"v0=abcdef,{good}"}, BODY, [SECRET])


def test_a_base64_signature_with_characters_outside_base64_is_refused_not_cleaned_up():
    signature = base64.b64encode(hmac.new(b"new", BODY, hashlib.sha256).digest()).decode()
    verifier = Base64BodyHmac("Webhook-Signature")
    for polluted in (f"{signature[:10]}*{signature[10:]}", f"{signature[:20]} {signature[20:]}"):
        with pytest.raises(InvalidSignature) as refusal:
            verifier.verify({"Webhook-Signature": polluted}, BODY, ["new"])
        assert str(refusal.value) == "Signature non décodable."
