"""What the console home (the admin index) shows: a card per connection and the latest webhooks.

The cards come from one query: each metric is a correlated subquery on an indexed (connection, date)
column, so the cost does not grow with the number of webhooks, calls or runs stored.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.core import providers
from apps.core.models import ApiCall, Connection, SyncRun, WebhookEvent

FEED_SIZE = 20
FAILURE_WINDOW = timedelta(hours=24)

# Colour of a status badge: ok (green), pending (blue), degraded (orange), down (red), off (grey).
WEBHOOK_STATUS_STATES = {
    WebhookEvent.Status.PROCESSED: "ok",
    WebhookEvent.Status.RECEIVED: "pending",
    WebhookEvent.Status.QUEUED: "pending",
    WebhookEvent.Status.PROCESSING: "pending",
    WebhookEvent.Status.FAILED: "down",
    WebhookEvent.Status.REJECTED: "down",
    WebhookEvent.Status.IGNORED: "off",
    WebhookEvent.Status.DUPLICATE: "off",
}
SYNC_STATUS_STATES = {
    SyncRun.Status.SUCCEEDED: "ok",
    SyncRun.Status.QUEUED: "pending",
    SyncRun.Status.RUNNING: "pending",
    SyncRun.Status.FAILED: "down",
    SyncRun.Status.STALE: "degraded",
}


def health_state(connection: Connection) -> str:
    """The badge colour that goes with `connection.health_label`."""
    if not connection.is_active:
        return "off"
    if not connection.is_healthy:
        return "down"
    if connection.consecutive_failures:
        return "degraded"
    if connection.last_ok_at is None:
        return "off"
    return "ok"


@dataclass
class ConnectionCard:
    connection: Connection
    provider_label: str
    hub_url: str | None
    health_state: str
    last_webhook_at: datetime | None
    last_webhook_type: str
    last_sync_at: datetime | None
    last_sync_status: str
    last_sync_label: str
    last_sync_state: str
    failed_webhooks: int
    failed_calls: int
    failed_syncs: int

    @property
    def failures(self) -> int:
        return self.failed_webhooks + self.failed_calls + self.failed_syncs


def _count(queryset):
    counted = queryset.order_by().values("connection").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def connection_cards(now: datetime | None = None) -> list[ConnectionCard]:
    since = (now or timezone.now()) - FAILURE_WINDOW
    # A rejected delivery (bad signature) is not news from the system: never the card's "Dernier webhook".
    webhooks = (WebhookEvent.objects.filter(connection=OuterRef("pk")).exclude(status=WebhookEvent.Status.REJECTED)
                .order_by("-received_at", "-id"))
    runs = SyncRun.objects.filter(connection=OuterRef("pk")).order_by("-created_at", "-id")
    connections = Connection.objects.annotate(
        last_webhook_at=Subquery(webhooks.values("received_at")[:1]),
        last_webhook_type=Subquery(webhooks.values("event_type")[:1]),
        last_sync_status=Subquery(runs.values("status")[:1]),
        last_sync_at=Subquery(
            runs.annotate(at=Coalesce("finished_at", "started_at", "created_at")).values("at")[:1]
        ),
        failed_webhooks=_count(WebhookEvent.objects.filter(
            connection=OuterRef("pk"), received_at__gte=since,
            status__in=[WebhookEvent.Status.FAILED, WebhookEvent.Status.REJECTED],
        )),
        failed_calls=_count(ApiCall.objects.filter(
            Q(status_code__gte=400) | Q(status_code__isnull=True), connection=OuterRef("pk"), created_at__gte=since,
        )),
        failed_syncs=_count(SyncRun.objects.filter(
            connection=OuterRef("pk"), created_at__gte=since,
            status__in=[SyncRun.Status.FAILED, SyncRun.Status.STALE],
        )),
    ).order_by("provider", "name")
    return [_card(connection) for connection in connections]


def _card(connection: Connection) -> ConnectionCard:
    try:
        provider = providers.for_connection(connection)
        provider_label, hub_url = provider.label, provider.hub_url()
    except providers.UnknownProvider:
        provider_label, hub_url = connection.provider, None
    status = connection.last_sync_status or ""
    return ConnectionCard(
        connection=connection,
        provider_label=provider_label,
        hub_url=hub_url,
        health_state=health_state(connection),
        last_webhook_at=connection.last_webhook_at,
        last_webhook_type=event_label(connection.provider, connection.last_webhook_type or ""),
        last_sync_at=connection.last_sync_at,
        last_sync_status=status,
        last_sync_label=str(SyncRun.Status(status).label) if status else "",
        last_sync_state=SYNC_STATUS_STATES.get(status, "off"),
        failed_webhooks=connection.failed_webhooks,
        failed_calls=connection.failed_calls,
        failed_syncs=connection.failed_syncs,
    )


def event_label(provider_key: str, event_type: str) -> str:
    """The event as people read it ("Devis envoyé"), the raw type when the provider names none."""
    try:
        return providers.get(provider_key).event_label(event_type) if event_type else ""
    except providers.UnknownProvider:
        return event_type


@dataclass
class FeedRow:
    event: WebhookEvent
    provider_label: str
    status_state: str
    admin_url: str | None
    event_label: str = ""


def feed_row(event: WebhookEvent) -> FeedRow:
    try:
        provider_label = providers.get(event.provider).label
    except providers.UnknownProvider:
        provider_label = event.provider
    try:
        admin_url = reverse("admin:core_webhookevent_change", args=[event.pk])
    except NoReverseMatch:  # the webhook log admin is not registered
        admin_url = None
    return FeedRow(event, provider_label, WEBHOOK_STATUS_STATES.get(event.status, "off"), admin_url,
                   event_label(event.provider, event.event_type))


def feed_events():
    """What a feed row reads of its events (not their bodies)."""
    return WebhookEvent.objects.select_related("connection").only(
        "provider", "event_type", "status", "received_at", "connection", "connection__name", "connection__slug")


def latest_webhooks(limit: int = FEED_SIZE) -> list[FeedRow]:
    return [feed_row(event) for event in feed_events().order_by("-received_at", "-id")[:limit]]
