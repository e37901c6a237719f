"""Validation of the process environment, run before settings are built.

Kept free of Django imports so it can be tested and called from settings.py.
"""

import base64

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"


class EnvironmentError_(Exception):
    pass


def is_fernet_key(key: str) -> bool:
    """A Fernet key: 32 bytes in urlsafe base64 (what `Fernet.generate_key()` prints)."""
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32 and len(key) == 44
    except (ValueError, UnicodeEncodeError):
        return False


def production_refusals(*, debug, secret_key, field_encryption_keys, sandbox):
    """Return one message per setting that makes a process unsafe to start (most only when DEBUG is off)."""
    # A key that is not a Fernet key is refused even with DEBUG on: secrets would be unreadable (or written
    # with a key nobody meant to use). The message never repeats the value.
    bad_keys = [position for position, key in enumerate(field_encryption_keys, 1) if not is_fernet_key(key)]
    key_refusals = [
        f"FIELD_ENCRYPTION_KEYS: la clé n° {', '.join(map(str, bad_keys))} n'est pas une clé Fernet "
        "(44 caractères base64 urlsafe, voir `Fernet.generate_key()`)."
    ] if bad_keys else []
    if debug:
        return key_refusals
    refusals = []
    if not secret_key or secret_key == DEFAULT_SECRET_KEY:
        refusals.append("SECRET_KEY: valeur par défaut ou vide refusée quand DEBUG est désactivé.")
    if not field_encryption_keys:
        refusals.append(
            "FIELD_ENCRYPTION_KEYS: au moins une clé Fernet est requise quand DEBUG est désactivé."
        )
    refusals += key_refusals
    if sandbox:
        refusals.append("SANDBOX: les émulateurs ne peuvent pas être activés quand DEBUG est désactivé.")
    return refusals
