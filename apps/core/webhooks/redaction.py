"""Masking of request headers before a delivery is stored: secrets never reach the database."""

from collections.abc import Mapping

SENSITIVE_NAME_PARTS = ("token", "secret", "signature", "authorization", "key", "cookie", "password")
MASK = "••••"


def is_sensitive(header_name: str) -> bool:
    name = header_name.lower()
    return any(part in name for part in SENSITIVE_NAME_PARTS)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: (MASK if is_sensitive(name) else value) for name, value in headers.items()}
