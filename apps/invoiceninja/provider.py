from __future__ import annotations

from django.urls import reverse

from apps.core.providers import EventDescription, Provider
from apps.invoiceninja import webhooks
from apps.invoiceninja.client import InvoiceNinjaClient
from apps.invoiceninja.handlers import EVENT_LABELS, HANDLERS
from apps.invoiceninja.sync import RESOURCES


class InvoiceNinjaProvider(Provider):
    key = "invoiceninja"
    label = "Invoice Ninja"
    secret_names = ("api_token",)
    sync_resources = RESOURCES
    webhook_handlers = HANDLERS
    event_labels = EVENT_LABELS

    def verifier(self, connection):
        return webhooks.verifier()

    def describe_event(self, body: bytes, headers, url_event: str | None) -> EventDescription:
        return webhooks.describe_event(body, url_event)

    def client(self, connection) -> InvoiceNinjaClient:
        return InvoiceNinjaClient(connection)

    def test_connection(self, connection) -> str:
        answer = self.client(connection).ping()
        company = answer.get("company_name") or "?"
        user = answer.get("user_name") or "?"
        return f"Connecté à l'entreprise « {company} » (utilisateur {user})."

    def hub_url(self) -> str | None:
        return reverse("invoiceninja:hub")

    def seed_demo(self, stdout) -> None:
        from apps.invoiceninja.demo import seed_demo

        seed_demo(stdout)
