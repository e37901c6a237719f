from __future__ import annotations

from django.urls import reverse

from apps.core.providers import Provider
from apps.directus import webhooks
from apps.directus.client import DirectusClient
from apps.directus.handlers import EVENT_LABELS, HANDLERS
from apps.directus.permissions import mirror_access
from apps.directus.sync import RESOURCES


class DirectusProvider(Provider):
    key = "directus"
    label = "Directus"
    secret_names = ("token",)
    sync_resources = RESOURCES
    webhook_handlers = HANDLERS
    event_labels = EVENT_LABELS

    def verifier(self, connection):
        return webhooks.verifier()

    def describe_event(self, body: bytes, headers, url_event: str | None):
        return webhooks.describe_event(body)

    def client(self, connection) -> DirectusClient:
        return DirectusClient(connection)

    def test_connection(self, connection) -> str:
        """/server/ping, /users/me, then which mirror collections the token may read and write."""
        client = self.client(connection)
        pong = client.ping()
        if pong != "pong":
            raise ValueError(f"Réponse inattendue de /server/ping : {pong[:40]!r}")
        me = client.me()
        who = me.get("email") or " ".join(filter(None, [me.get("first_name"), me.get("last_name")])) or me.get("id")
        access = mirror_access(connection, client.openapi())
        text = f"Connecté en tant que {who or '?'}. Collections miroir — {access.summary()}."
        if access.none:
            text += (" Une collection absente ou non autorisée se présente de la même façon (Directus répond 403 "
                     f"dans les deux cas) : lancez « manage.py directus bootstrap {connection.slug} » "
                     "ou vérifiez la stratégie d'accès du rôle.")
        return text

    def hub_url(self) -> str | None:
        return reverse("directus:hub")

    def seed_demo(self, stdout) -> None:
        from apps.directus.demo import seed_demo

        seed_demo(stdout)
