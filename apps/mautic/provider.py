"""The Mautic plug-in the kernel talks to (webhook inbox, sync engine, CLI, console home)."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils.translation import gettext as _

from apps.core.providers import EventDescription, Provider
from apps.mautic import webhooks
from apps.mautic.client import MauticClient, uses_basic_auth
from apps.mautic.handlers import EVENT_LABELS, handle_delivery
from apps.mautic.sync import RESOURCES


class MauticProvider(Provider):
    key = "mautic"
    label = "Mautic"
    # Basic: username + password. OAuth2: client_id + client_secret, then "Connecter Mautic".
    secret_names = ("username", "password", "client_id", "client_secret")
    sync_resources = RESOURCES
    # Mautic's default api_oauth2_refresh_token_lifetime (14 days; an instance may configure another):
    # every refresh issues a new one, so this only runs out when no refresh happened for 14 days.
    refresh_token_lifetime = timedelta(days=14)
    webhook_handlers = {event_type: handle_delivery for event_type in [*webhooks.SUBSCRIBED_EVENTS, webhooks.BATCH]}
    event_labels = EVENT_LABELS

    def verifier(self, connection):
        return webhooks.verifier()

    def describe_event(self, body: bytes, headers, url_event: str | None) -> EventDescription:
        return webhooks.describe_event(body)

    def client(self, connection) -> MauticClient:
        return MauticClient(connection)

    def test_connection(self, connection) -> str:
        page = MauticClient(connection).ping()
        mode = _("authentification Basic") if uses_basic_auth(connection) else "OAuth2"
        return _("Connecté à Mautic (%(mode)s) : %(count)s contact(s).") % {"mode": mode, "count": page.total}

    def hub_url(self) -> str | None:
        return reverse("mautic:hub")

    def seed_demo(self, stdout) -> None:
        from apps.mautic.demo import seed_demo

        seed_demo(stdout)
