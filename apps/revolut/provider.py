"""The Revolut Business plug-in the kernel talks to (webhook inbox, sync engine, CLI, console home)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.urls import reverse

from apps.core.models import Connection
from apps.core.providers import EventDescription, MetricSample, Provider
from apps.revolut import webhooks
from apps.revolut.client import RevolutClient
from apps.revolut.rate_limit import RequestBudget
from apps.revolut.sync import AccountsResource, CounterpartiesResource, TransactionsResource

DEMO_SLUG = "revolut-sandbox"
DEMO_ACCOUNTS = [
    ("Compte principal EUR", "EUR", Decimal("25000.00")),
    ("Compte GBP", "GBP", Decimal("4200.00")),
    ("Compte USD", "USD", Decimal("1800.00")),
]


class RevolutProvider(Provider):
    key = "revolut"
    label = "Revolut Business"
    uses_oauth = True
    secret_names = ("private_key_pem",)
    sync_resources = (AccountsResource, CounterpartiesResource, TransactionsResource)
    webhook_handlers = webhooks.EVENT_HANDLERS
    event_labels = webhooks.EVENT_LABELS

    def verifier(self, connection):
        return webhooks.verifier(connection)

    def describe_event(self, body: bytes, headers, url_event: str | None) -> EventDescription:
        return webhooks.describe_event(body, headers, url_event)

    def client(self, connection):
        return RevolutClient(connection)

    def test_connection(self, connection) -> str:
        accounts = RevolutClient(connection).list_accounts()
        return f"{len(accounts)} compte(s) : " + ", ".join(sorted({a.get("currency", "?") for a in accounts}))

    def hub_url(self) -> str:
        return reverse("revolut:hub")

    def metrics(self, connection) -> list[MetricSample]:
        budget = RequestBudget(str(connection.pk))
        return [MetricSample("revolut_request_budget_remaining",
                             "Requests Revolut still accepts in the current 60-second window.",
                             max(0, budget.limit - budget.used()))]

    def sync_period_seconds(self, resource: str) -> int | None:
        # Only transactions are reconciled on a schedule (jobs.reconcile_transactions, every 5 minutes);
        # accounts refresh through the balances job, counterparties on demand.
        return 300 if resource == "transactions" else None

    def seed_demo(self, stdout) -> None:
        """The sandbox connection of `manage.py demo`: key, certificate registered with the emulator, accounts."""
        from apps.hub.models import Company
        from apps.revolut import oauth, sandbox_state

        base_url = f"{settings.SANDBOX_BASE_URL}/sandbox/revolut"
        connection, created = Connection.objects.get_or_create(
            slug=DEMO_SLUG,
            defaults={"provider": self.key, "name": "Revolut Business (sandbox)", "base_url": base_url,
                      "token_status": Connection.TokenStatus.MISSING},
        )
        if connection.base_url != base_url:  # the sandboxes now answer elsewhere (e.g. an older run on :8001)
            connection.base_url = base_url
            connection.save(update_fields=["base_url", "updated_at"])
        if not connection.secret("private_key_pem"):
            oauth.install_key(connection, oauth.generate_private_key_pem())
        app = sandbox_state.register_app(connection.config["certificate_pem"], oauth.redirect_uri(),
                                         client_id=connection.config.get("client_id"))
        if connection.config.get("client_id") != app.client_id:
            connection.config = {**connection.config, "client_id": app.client_id}
            connection.save(update_fields=["config", "updated_at"])
        for name, currency, balance in DEMO_ACCOUNTS:
            sandbox_state.ensure_account(name, currency, balance)
        for company in Company.objects.filter(is_supplier=True).exclude(iban=""):
            sandbox_state.ensure_bank_counterparty(company.name, company.iban, company.bic, company.currency,
                                                   company.country_code)
        stdout.write(f"  connexion « {connection.name} » {'créée' if created else 'déjà présente'} ; "
                     f"ClientID sandbox {app.client_id}")
        stdout.write(f"  connectez-la : {settings.PUBLIC_BASE_URL}{reverse('revolut:connect', args=[connection.pk])}"
                     " → « Connecter Revolut » → « Autoriser »")
