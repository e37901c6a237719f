"""System check: an active connection whose system receives webhooks must have a webhook secret.

Without one, every delivery is refused with 503 (fail closed). Tagged `database` because it reads
connections: it runs with `manage.py check --database default` and before `migrate`.
"""

from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from apps.core import providers

ID_NO_WEBHOOK_SECRET = "core.E101"


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
        if not any(c.webhook_secrets or []) and not (providers.get(c.provider).uses_oauth and c.token_status in not_connected)
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
