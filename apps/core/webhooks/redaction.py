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
