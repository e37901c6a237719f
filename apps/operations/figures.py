"""The console's operating figures, read from the database and Redis at the moment they are asked for.

Nothing is counted in the processes' memory: every web and worker process writes rows (WebhookEvent,
SyncRun, ActionRun, ApiCall, Connection) and Redis keys (RQ, the scheduler lease, the response counter),
and these functions read them, so any process answers /metrics or the Exploitation page with the same view.
One function per family; each returns plain rows that `collectors` turns into Prometheus families and
`views` into tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, Q, Sum
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry

from apps.core import jobs, providers, redis_clients
from apps.core.models import ActionRun, ApiCall, Connection, SyncRun, WebhookEvent
from apps.core.scheduler import LOCK_KEY

WAITING_STATUSES = (WebhookEvent.Status.RECEIVED, WebhookEvent.Status.QUEUED)
LATENCY_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)  # seconds
# Latency and vendor calls are read over a recent window: the figures of a gauge histogram, not lifetime totals.
WINDOW = timedelta(minutes=15)
HTTP_RESPONSES_KEY = "console:operations:http_responses"  # hash: "2xx".."5xx" -> count (apps.operations.middleware)


def redis_connection():
    # The process's shared client: django_rq.get_connection() builds a new one (and a new connection) per call.
    return redis_clients.for_queue("default")


def _seconds(delta: timedelta) -> float:
    return round(delta.total_seconds(), 3)


# --- webhook inbox ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryCount:
    provider: str
    connection: str
    status: str
    count: int


def webhook_deliveries() -> list[DeliveryCount]:
    rows = (WebhookEvent.objects.values("provider", "connection__slug", "status")
            .annotate(count=Count("id")).order_by("provider", "connection__slug", "status"))
    return [DeliveryCount(row["provider"], row["connection__slug"], row["status"], row["count"]) for row in rows]


@dataclass(frozen=True)
class WaitingEvents:
    count: int
    oldest_received_at: datetime | None

    def oldest_age_seconds(self, now: datetime) -> float:
        return _seconds(now - self.oldest_received_at) if self.oldest_received_at else 0.0


def waiting_events() -> WaitingEvents:
    found = WebhookEvent.objects.filter(status__in=WAITING_STATUSES).aggregate(count=Count("id"),
                                                                             oldest=Min("received_at"))
    return WaitingEvents(found["count"], found["oldest"])


@dataclass(frozen=True)
class LatencyHistogram:
    """Events processed within the window, cumulative per upper bound (seconds), and their summed latency."""

    buckets: list[tuple[float, int]]
    count: int
    sum_seconds: float


def inbox_latency(now: datetime) -> LatencyHistogram:
    latency = ExpressionWrapper(F("processed_at") - F("received_at"), output_field=DurationField())
    recent = (WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED, processed_at__isnull=False,
                                          received_at__gte=now - WINDOW)
              .annotate(latency=latency))
    aggregates = {f"le_{index}": Count("id", filter=Q(latency__lte=timedelta(seconds=bound)))
                  for index, bound in enumerate(LATENCY_BUCKETS)}
    found = recent.aggregate(count=Count("id"), total=Sum("latency"), **aggregates)
    buckets = [(bound, found[f"le_{index}"]) for index, bound in enumerate(LATENCY_BUCKETS)]
    total = found["total"] or timedelta(0)
    if not isinstance(total, timedelta):  # some backends hand back microseconds
        total = timedelta(microseconds=int(total))
    return LatencyHistogram(buckets, found["count"], _seconds(total))


def failed_events(limit: int = 20):
    return (WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).select_related("connection")
            .order_by("-received_at")[:limit])


# --- RQ ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFigures:
    name: str
    depth: int
    oldest_enqueued_at: datetime | None
    failed: int

    def oldest_age_seconds(self, now: datetime) -> float:
        return _seconds(now - self.oldest_enqueued_at) if self.oldest_enqueued_at else 0.0


def queues() -> list[QueueFigures]:
    """Depth, oldest waiting job and failed jobs of each RQ queue. Raises RedisError when Redis is down."""
    redis = redis_connection()
    figures = []
    for name in jobs.QUEUES:
        queue = Queue(name, connection=redis)
        oldest = None
        for job_id in queue.get_job_ids(0, 1):
            job = Job.fetch(job_id, connection=redis) if Job.exists(job_id, connection=redis) else None
            if job is not None and job.enqueued_at:
                oldest = job.enqueued_at.replace(tzinfo=job.enqueued_at.tzinfo or timezone.UTC)
        figures.append(QueueFigures(name, queue.count, oldest, FailedJobRegistry(queue=queue).count))
    return figures


@dataclass(frozen=True)
class FailedJob:
    queue: str
    id: str
    description: str
    error: str
    ended_at: datetime | None


def failed_jobs(limit: int = 20) -> list[FailedJob]:
    redis = redis_connection()
    found = []
    for name in jobs.QUEUES:
        registry = FailedJobRegistry(queue=Queue(name, connection=redis))
        for job in Job.fetch_many(registry.get_job_ids(0, limit - 1), connection=redis):
            if job is None:
                continue
            result = job.latest_result()
            error = (result.exc_string or "").strip().splitlines()[-1:] if result else []
            found.append(FailedJob(name, job.id, job.description or job.func_name, (error or [""])[0][:300],
                                   job.ended_at))
    return found[:limit]


def workers_alive() -> int:
    return Worker.count(connection=redis_connection())


@dataclass(frozen=True)
class SchedulerLease:
    held: bool
    expires_in_seconds: float


def scheduler_lease() -> SchedulerLease:
    ttl_ms = redis_connection().pttl(LOCK_KEY)
    return SchedulerLease(ttl_ms > 0, max(0, ttl_ms) / 1000)


def http_responses() -> dict[str, int]:
    counts = redis_connection().hgetall(HTTP_RESPONSES_KEY)
    return {key.decode(): int(value) for key, value in counts.items()}


# --- syncs -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncFreshness:
    provider: str
    connection: str
    resource: str
    last_success_at: datetime | None
    since: datetime  # last success, or the connection's creation when it never succeeded
    period_seconds: int | None

    def age_seconds(self, now: datetime) -> float:
        return _seconds(now - self.since)

    def is_stale(self, now: datetime, periods: int) -> bool:
        return self.period_seconds is not None and self.age_seconds(now) > periods * self.period_seconds


def sync_freshness() -> list[SyncFreshness]:
    """One row per active connection and resource of its system, with the time of its last successful sync."""
    last = {(row["connection_id"], row["resource"]): row["last"]
            for row in SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED)
            .values("connection_id", "resource").annotate(last=Max("finished_at"))}
    rows = []
    for connection in Connection.objects.filter(is_active=True).order_by("provider", "slug"):
        try:
            provider = providers.for_connection(connection)
        except providers.UnknownProvider:
            continue
        for resource in provider.sync_resources:
            succeeded = last.get((connection.pk, resource.name))
            rows.append(SyncFreshness(connection.provider, connection.slug, resource.name, succeeded,
                                      succeeded or connection.created_at, provider.sync_period_seconds(resource.name)))
    return rows


# --- actions and vendor calls ------------------------------------------------------------------------------------


def action_runs_by_status() -> dict[str, int]:
    wanted = (ActionRun.Status.FAILED, ActionRun.Status.PENDING_APPROVAL)
    counts = dict(ActionRun.objects.filter(status__in=wanted).values_list("status").annotate(count=Count("id")))
    return {status: counts.get(status, 0) for status in wanted}


@dataclass(frozen=True)
class VendorCalls:
    provider: str
    connection: str
    status_class: str  # "2xx".."5xx", or "error" when no answer came back
    count: int
    duration_seconds_sum: float
    duration_seconds_max: float


def vendor_calls(now: datetime) -> list[VendorCalls]:
    rows = (ApiCall.objects.filter(created_at__gte=now - WINDOW)
            .values("connection__provider", "connection__slug", "status_code")
            .annotate(count=Count("id"), total=Sum("duration_ms"), longest=Max("duration_ms")))
    merged: dict[tuple, list] = {}
    for row in rows:
        code = row["status_code"]
        key = (row["connection__provider"], row["connection__slug"], f"{code // 100}xx" if code else "error")
        entry = merged.setdefault(key, [0, 0, 0])
        entry[0] += row["count"]
        entry[1] += row["total"] or 0
        entry[2] = max(entry[2], row["longest"] or 0)
    return [VendorCalls(*key, count, total / 1000, longest / 1000)
            for key, (count, total, longest) in sorted(merged.items())]


# --- connections: circuit breaker and OAuth --------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionHealth:
    provider: str
    connection: str
    name: str
    circuit_open: bool
    consecutive_failures: int
    uses_oauth: bool
    reconnect_required: bool
    token_expires_in: float | None
    refresh_token_expires_in: float | None
    samples: list  # MetricSample from Provider.metrics


def connection_health(now: datetime) -> list[ConnectionHealth]:
    rows = []
    for connection in Connection.objects.filter(is_active=True).order_by("provider", "slug"):
        try:
            provider = providers.for_connection(connection)
        except providers.UnknownProvider:
            continue
        refresh_expires_in = None
        issued_at = (connection.oauth_token or {}).get("refresh_token_issued_at")
        if provider.refresh_token_lifetime and issued_at:
            refresh_expires_in = _seconds(datetime.fromisoformat(issued_at) + provider.refresh_token_lifetime - now)
        try:
            samples = provider.metrics(connection)
        except RedisError:
            samples = []
        rows.append(ConnectionHealth(
            provider=connection.provider, connection=connection.slug, name=connection.name,
            circuit_open=bool(connection.circuit_open_until and connection.circuit_open_until > now),
            consecutive_failures=connection.consecutive_failures,
            # Mautic may use Basic or OAuth2: a connection holding a refresh token uses OAuth whatever its system.
            uses_oauth=provider.uses_oauth or bool((connection.oauth_token or {}).get("refresh_token")),
            reconnect_required=connection.token_status == Connection.TokenStatus.RECONNECT_REQUIRED,
            token_expires_in=_seconds(connection.token_expires_at - now) if connection.token_expires_at else None,
            refresh_token_expires_in=refresh_expires_in,
            samples=samples,
        ))
    return rows
