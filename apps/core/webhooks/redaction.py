"""Masking of request headers before a delivery is stored: secrets never reach the database."""

from collections.abc import Mapping

from apps.core.storable import storable_text

SENSITIVE_NAME_PARTS = ("token", "secret", "signature", "authorization", "key", "cookie", "password")
MASK = "••••"


def is_sensitive(header_name: str) -> bool:
    name = header_name.lower()
    return any(part in name for part in SENSITIVE_NAME_PARTS)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    # Stored as JSON: PostgreSQL's jsonb refuses \u0000 like its text does.
    return {storable_text(name): (MASK if is_sensitive(name) else storable_text(value))
            for name, value in headers.items()}


# What is kept of the headers of a delivery nobody signed: enough to see who sent it, not whatever it carried.
CAPPED_HEADERS = 30
CAPPED_LENGTH = 200


def capped_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name[:CAPPED_LENGTH]: value[:CAPPED_LENGTH]
            for name, value in list(headers.items())[:CAPPED_HEADERS]}
