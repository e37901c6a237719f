"""Symmetric encryption of secrets at rest: MultiFernet over settings.FIELD_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so keys rotate by prepending a new one and running
`manage.py rotate_encryption_keys`. Errors never carry the ciphertext or the plaintext.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS est vide : impossible de chiffrer les secrets.")
    try:
        return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS contient une clé invalide (attendu : clé Fernet en base64 urlsafe)."
        ) from exc


def cipher() -> MultiFernet:
    return _multifernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


@sensitive_variables()
def encrypt(plaintext: str) -> str:
    return cipher().encrypt(plaintext.encode()).decode()


@sensitive_variables()
def decrypt(token: str) -> str:
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "Secret illisible : aucune clé de FIELD_ENCRYPTION_KEYS ne le déchiffre."
        ) from None


@sensitive_variables()
def rotate(token: str) -> str:
    """Re-encrypt a token with the first (current) key."""
    try:
        return cipher().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "Secret illisible : aucune clé de FIELD_ENCRYPTION_KEYS ne le déchiffre."
        ) from None


@sensitive_variables()
def mask(secret: str | None) -> str:
    """What the UI may show of a secret: bullets and at most its last four characters."""
    if not secret:
        return ""
    tail = secret[-4:] if len(secret) >= 12 else ""
    return "••••" + tail
