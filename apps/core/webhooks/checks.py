"""System checks: every connection's secrets decrypt; an active connection whose system receives webhooks must have a webhook secret.

Without one, every delivery is refused with 503 (fail closed). Tagged `database` because it reads
connections: it runs with `manage.py check --database default` and before `migrate`.
"""

from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from apps.core import providers
from apps.core.encryption import DecryptionError

ID_NO_WEBHOOK_SECRET = "core.E101"
ID_UNREADABLE_SECRET = "core.E102"


@register(Tags.database)
def check_webhook_secrets(app_configs=None, databases=None, **kwargs):
    if not databases:
        return []
    from apps.core.models import Connection

    receiving = [p.key for p in providers.all_providers() if p.webhook_handlers and not p.webhooks_optional]
    try:
        connections = list(Connection.objects.filter(is_active=True, provider__in=receiving).order_by("slug"))
    except DatabaseError:
        return []  # tables not migrated yet
    # An OAuth connection not connected yet registers its webhook (and gets its secret) when it connects.
    not_connected = (Connection.TokenStatus.MISSING, Connection.TokenStatus.RECONNECT_REQUIRED)
    missing = [
        c for c in connections
        if not readable(c) or not providers.get(c.provider).has_webhook_secret(c)
        and not (providers.get(c.provider).uses_oauth and c.token_status in not_connected)
    ]
    if not missing:
        return []
    return [
        Error(
            "Connexions actives sans secret de webhook (leurs webhooks sont refusés avec 503) : "
            + ", ".join(c.slug for c in missing),
            hint="Ajoutez un secret de webhook à chaque connexion (admin ou `manage.py connection`).",
            obj="core.Connection",
            id=ID_NO_WEBHOOK_SECRET,
        )
    ]


def readable(connection) -> bool:
    try:
        connection.secrets, connection.webhook_secrets, connection.oauth_token  # noqa: B018 (decrypts)
    except DecryptionError:
        return False
    return True


@register(Tags.database)
def check_unreadable_secrets(app_configs=None, databases=None, **kwargs):
    """One error per connection whose stored secrets no key of FIELD_ENCRYPTION_KEYS decrypts."""
    if not databases:
        return []
    from apps.core.models import Connection

    try:
        connections = list(Connection.objects.order_by("slug"))
    except DatabaseError:
        return []
    errors = []
    for connection in connections:
        if readable(connection):
            continue
        errors.append(Error(
            f"Connexion « {connection.slug} » : secrets illisibles, aucune clé de FIELD_ENCRYPTION_KEYS ne les "
            "déchiffre (ses webhooks sont refusés avec 503, ses appels échouent).",
            hint="Remettez la clé qui les a chiffrés dans FIELD_ENCRYPTION_KEYS puis lancez "
                 "`manage.py rotate_encryption_keys`, ou saisissez à nouveau les secrets de cette connexion.",
            obj="core.Connection", id=ID_UNREADABLE_SECRET,
        ))
    return errors
