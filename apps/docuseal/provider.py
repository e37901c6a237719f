"""The DocuSeal plug-in the kernel talks to (webhook inbox, CLI, console home, demo)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from apps.core.providers import EventDescription, Provider
from apps.docuseal import webhooks
from apps.docuseal.client import DocusealClient, is_hosted
from apps.docuseal.handlers import EVENT_LABELS, HANDLERS
from apps.docuseal.sync import RESOURCES

EDITION_LABELS = {"pro": "Pro", "open_source": "open source"}


class DocusealProvider(Provider):
    key = "docuseal"
    label = "DocuSeal"
    # api_key: X-Auth-Token; webhook_header_value: the Secret tab's custom header value (optional).
    secret_names = ("api_key", "webhook_header_value")
    webhook_handlers = HANDLERS
    event_labels = EVENT_LABELS
    sync_resources = RESOURCES

    def verifier(self, connection):
        return webhooks.verifier(connection)

    def has_webhook_secret(self, connection) -> bool:
        # An instance older than 2.5.3 signs nothing: its Secret tab's custom header is then the whole check.
        return super().has_webhook_secret(connection) or webhooks.verifier(connection).has_custom_header

    def describe_event(self, body: bytes, headers, url_event: str | None) -> EventDescription:
        return webhooks.describe_event(body)

    def client(self, connection) -> DocusealClient:
        return DocusealClient(connection)

    def test_connection(self, connection) -> str:
        user = self.client(connection).get_user()
        name = " ".join(filter(None, [user.get("first_name"), user.get("last_name")])) or "?"
        where = _("DocuSeal hébergé") if is_hosted(connection.base_url) else _("DocuSeal auto-hébergé")
        edition = EDITION_LABELS.get(connection.config.get("edition"))
        edition_text = (_("édition %(edition)s (constatée par l'API)") % {"edition": edition} if edition
                        else _("édition pas encore constatée"))
        return _("Clé API de %(name)s <%(email)s> — %(where)s, %(edition)s.") % {
            "name": name, "email": user.get("email") or "?", "where": where, "edition": edition_text}

    def hub_url(self) -> str | None:
        return reverse("docuseal:hub")

    def seed_demo(self, stdout) -> None:
        from apps.docuseal.demo import seed_demo

        seed_demo(stdout)
