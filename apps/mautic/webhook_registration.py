"""Register the console's webhook in Mautic (NOTES §3.8), idempotently: looked up by URL before creating
(n8n#3158: re-creating on every save piles up webhooks), the secret generated here and kept encrypted on
the connection, so the inbox can verify every delivery from the first one.
"""

from __future__ import annotations

import secrets

from django.utils.translation import gettext as _

from apps.core.models import Connection
from apps.mautic.client import MauticClient, as_int
from apps.mautic.webhooks import SUBSCRIBED_EVENTS


def register_webhook(connection: Connection) -> str:
    client = MauticClient(connection)
    url = connection.webhook_url()
    secret = connection.webhook_secrets[0] if connection.webhook_secrets else secrets.token_urlsafe(32)
    if not connection.webhook_secrets:
        connection.webhook_secrets = [secret]
        connection.save(update_fields=["webhook_secrets", "updated_at"])
    existing = next((h for h in client.list_hooks() if h.get("webhookUrl") == url), None)
    if existing is not None:
        client.edit_hook(as_int(existing.get("id")), secret=secret, triggers=SUBSCRIBED_EVENTS)
        return _("Webhook Mautic mis à jour.")
    client.create_hook(name="Hypervisual Console", url=url, secret=secret, triggers=SUBSCRIBED_EVENTS)
    return _("Webhook Mautic créé.")
