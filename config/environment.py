"""Validation of the process environment, run before settings are built.

Kept free of Django imports so it can be tested and called from settings.py.
"""

DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"


class EnvironmentError_(Exception):
    pass


def production_refusals(*, debug, secret_key, field_encryption_keys, sandbox):
    """Return one message per setting that makes a non-DEBUG process unsafe to start."""
    if debug:
        return []
    refusals = []
    if not secret_key or secret_key == DEFAULT_SECRET_KEY:
        refusals.append("SECRET_KEY: valeur par défaut ou vide refusée quand DEBUG est désactivé.")
    if not field_encryption_keys:
        refusals.append(
            "FIELD_ENCRYPTION_KEYS: au moins une clé Fernet est requise quand DEBUG est désactivé."
        )
    if sandbox:
        refusals.append("SANDBOX: les émulateurs ne peuvent pas être activés quand DEBUG est désactivé.")
    return refusals
