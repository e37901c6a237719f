"""The registry through which system apps plug into the kernel.

`core` never imports a system app: each app registers a Provider in its AppConfig.ready(), and the
kernel (webhook inbox, sync engine, CLI, console home) only talks to that interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Callable, ClassVar

if TYPE_CHECKING:
    from apps.core.models import Connection, WebhookEvent
    from apps.core.sync import SyncResource
    from apps.core.webhooks.verifiers import Verifier


@dataclass(frozen=True)
class EventDescription:
    """What the inbox needs to know about a verified delivery before storing it."""

    event_type: str
    # The vendor's event id, or a key derived from the payload: unique per real-world event.
    event_key: str


@dataclass(frozen=True)
class MetricSample:
    """One figure a provider reports about a connection at scrape time (`Provider.metrics`), e.g. a rate budget.

    `name` is a Prometheus metric name without the console's prefix; labels "provider" and "connection"
    are added by the collector.
    """

    name: str
    documentation: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)


class Provider:
    """Base class of a system's plug-in. Subclasses fill the class attributes and override hooks."""

    key: ClassVar[str]  # "invoiceninja": the URL segment in /hooks/<key>/ and Connection.provider
    label: ClassVar[str]  # "Invoice Ninja"
    # Names of the secrets a connection holds (`connection add --secret name=value`), for forms and checks.
    secret_names: ClassVar[tuple[str, ...]] = ()
    uses_oauth: ClassVar[bool] = False
    # Sync resources in the order a full sync runs them.
    sync_resources: ClassVar[tuple[type[SyncResource], ...]] = ()
    # Webhook event type -> handler(event: WebhookEvent) -> None. Types not listed are stored as `ignored`.
    webhook_handlers: ClassVar[dict[str, Callable[[WebhookEvent], None]]] = {}
    # True when the system works fully without webhooks (they only hint): a connection without a webhook
    # secret is then no configuration error (its deliveries are still refused, fail closed).
    webhooks_optional: ClassVar[bool] = False
    # How long a refresh token lives after it is issued, where the vendor documents it (None: no known expiry).
    refresh_token_lifetime: ClassVar[timedelta | None] = None
    # Webhook event type -> what a person reads ("Devis créé"); a type missing here is shown as sent.
    event_labels: ClassVar[dict[str, str]] = {}

    def event_label(self, event_type: str) -> str:
        return str(self.event_labels.get(event_type, event_type))

    def verifier(self, connection: Connection) -> Verifier:
        raise NotImplementedError

    def has_webhook_secret(self, connection: Connection) -> bool:
        """Whether the connection holds what its verifier needs to accept a delivery (system check core.E101)."""
        return any(connection.webhook_secrets or [])

    def describe_event(self, body: bytes, headers, url_event: str | None) -> EventDescription:
        """Event type and dedupe key of a verified delivery; raise ValueError for a malformed body."""
        raise NotImplementedError

    def client(self, connection: Connection):
        raise NotImplementedError

    def test_connection(self, connection: Connection) -> str:
        """Make the provider's cheapest authenticated call; return a short French summary, or raise."""
        raise NotImplementedError

    def hub_url(self) -> str | None:
        return None

    def metrics(self, connection: Connection) -> list[MetricSample]:
        """Figures of this connection only the system knows (read cheaply, at scrape time). Optional."""
        return []

    def sync_period_seconds(self, resource: str) -> int | None:
        """How often the scheduler syncs `resource`, when it does (None: only on demand). Used by alerts.

        Default: the shortest period of this system's jobs on the "sync" queue, for every resource.
        """
        from apps.core.scheduler import periodic_jobs

        periods = [job.seconds for job in periodic_jobs()
                   if job.queue == "sync" and job.func.startswith(f"apps.{self.key}.")]
        return min(periods) if periods else None

    def sync_resource(self, name: str) -> type[SyncResource]:
        for resource in self.sync_resources:
            if resource.name == name:
                return resource
        raise KeyError(name)


_registry: dict[str, Provider] = {}


def register(provider: Provider) -> Provider:
    _registry[provider.key] = provider
    return provider


def unregister(key: str) -> None:
    _registry.pop(key, None)


def get(key: str) -> Provider:
    try:
        return _registry[key]
    except KeyError:
        raise UnknownProvider(key) from None


def all_providers() -> list[Provider]:
    return sorted(_registry.values(), key=lambda p: p.label)


def for_connection(connection: Connection) -> Provider:
    return get(connection.provider)


class UnknownProvider(LookupError):
    def __str__(self):
        return f"Système inconnu : {self.args[0]!r}"
