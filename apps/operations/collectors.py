"""Prometheus families built from `figures` at scrape time (a custom Collector, no in-process counters).

Every family is prefixed `console_`. Redis figures are skipped, and `console_redis_up` is 0, when Redis
does not answer; the database figures are still reported. `registry()` holds this collector only: the
default registry's process and platform metrics describe one process, not the console.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily
from redis.exceptions import RedisError

from apps.operations import figures

logger = logging.getLogger(__name__)

CONNECTION_LABELS = ["provider", "connection"]


def gauge(name, documentation, labels=()):
    return GaugeMetricFamily(f"console_{name}", documentation, labels=list(labels))


class ConsoleCollector:
    def collect(self):
        now = timezone.now()
        yield from self.inbox(now)
        yield from self.syncs(now)
        yield from self.actions_and_calls(now)
        yield from self.connections(now)
        try:
            redis_families = list(self.redis_figures(now))
        except RedisError as exc:
            logger.warning("Métriques : Redis ne répond pas (%s)", type(exc).__name__)
            redis_families = []
        up = gauge("redis_up", "1 when Redis answered this scrape.")
        up.add_metric([], 1 if redis_families else 0)
        yield up
        yield from redis_families

    def inbox(self, now):
        deliveries = gauge("webhook_deliveries", "Stored webhook deliveries by system, connection and status.",
                           ["provider", "connection", "status"])
        for row in figures.webhook_deliveries():
            deliveries.add_metric([row.provider, row.connection, row.status], row.count)
        yield deliveries

        waiting = figures.waiting_events()
        count = gauge("webhook_events_waiting", "Deliveries stored but not processed yet (received or queued).")
        count.add_metric([], waiting.count)
        yield count
        oldest = gauge("webhook_oldest_waiting_seconds", "Age of the oldest delivery still received or queued.")
        oldest.add_metric([], waiting.oldest_age_seconds(now))
        yield oldest

        latency = figures.inbox_latency(now)
        histogram = GaugeHistogramMetricFamily(
            "console_inbox_latency_seconds",
            f"Seconds from reception to processed, deliveries received in the last {figures.WINDOW.seconds // 60} "
            "minutes.",
            buckets=[(repr(float(bound)), count) for bound, count in latency.buckets] + [("+Inf", latency.count)],
            gsum_value=latency.sum_seconds,
        )
        yield histogram

    def syncs(self, now):
        age = gauge("sync_seconds_since_success", "Seconds since the last successful sync (since the connection "
                    "was created when it never succeeded).", [*CONNECTION_LABELS, "resource"])
        period = gauge("sync_period_seconds", "How often the scheduler syncs this resource.",
                       [*CONNECTION_LABELS, "resource"])
        for row in figures.sync_freshness():
            labels = [row.provider, row.connection, row.resource]
            age.add_metric(labels, row.age_seconds(now))
            if row.period_seconds:
                period.add_metric(labels, row.period_seconds)
        yield age
        yield period

    def actions_and_calls(self, now):
        runs = gauge("action_runs", "Action runs failed or waiting for approval.", ["status"])
        for status, count in figures.action_runs_by_status().items():
            runs.add_metric([status], count)
        yield runs

        window = f"in the last {figures.WINDOW.seconds // 60} minutes"
        calls = gauge("vendor_calls", f"Outbound calls to vendors {window}, by HTTP status class.",
                      [*CONNECTION_LABELS, "status_class"])
        total = gauge("vendor_call_duration_seconds_sum", f"Summed duration of those calls {window}.",
                      [*CONNECTION_LABELS, "status_class"])
        longest = gauge("vendor_call_duration_seconds_max", f"Longest of those calls {window}.",
                        [*CONNECTION_LABELS, "status_class"])
        for row in figures.vendor_calls(now):
            labels = [row.provider, row.connection, row.status_class]
            calls.add_metric(labels, row.count)
            total.add_metric(labels, row.duration_seconds_sum)
            longest.add_metric(labels, row.duration_seconds_max)
        yield from (calls, total, longest)

    def connections(self, now):
        circuit = gauge("circuit_open", "1 while the connection's circuit breaker refuses calls.", CONNECTION_LABELS)
        failures = gauge("connection_consecutive_failures", "Consecutive failed calls.", CONNECTION_LABELS)
        token = gauge("oauth_token_expiry_seconds", "Seconds until the OAuth access token expires.",
                      CONNECTION_LABELS)
        refresh = gauge("oauth_refresh_token_expiry_seconds", "Seconds until the OAuth refresh token expires.",
                        CONNECTION_LABELS)
        refused = gauge("oauth_reconnect_required", "1 when the refresh token was refused: someone must "
                        "authorise the console again.", CONNECTION_LABELS)
        provided = {}
        for row in figures.connection_health(now):
            labels = [row.provider, row.connection]
            circuit.add_metric(labels, int(row.circuit_open))
            failures.add_metric(labels, row.consecutive_failures)
            if row.uses_oauth:
                refused.add_metric(labels, int(row.reconnect_required))
                if row.token_expires_in is not None:
                    token.add_metric(labels, row.token_expires_in)
                if row.refresh_token_expires_in is not None:
                    refresh.add_metric(labels, row.refresh_token_expires_in)
            for sample in row.samples:
                family = provided.get(sample.name)
                if family is None:
                    family = provided[sample.name] = gauge(sample.name, sample.documentation,
                                                           [*CONNECTION_LABELS, *sample.labels])
                family.add_metric([*labels, *sample.labels.values()], sample.value)
        yield from (circuit, failures, token, refresh, refused, *provided.values())

    def redis_figures(self, now):
        depth = gauge("rq_queue_depth", "Jobs waiting in the RQ queue.", ["queue"])
        oldest = gauge("rq_oldest_job_age_seconds", "Age of the oldest job waiting in the RQ queue.", ["queue"])
        failed = gauge("rq_failed_jobs", "Jobs in the queue's failed registry.", ["queue"])
        for queue in figures.queues():
            depth.add_metric([queue.name], queue.depth)
            oldest.add_metric([queue.name], queue.oldest_age_seconds(now))
            failed.add_metric([queue.name], queue.failed)
        yield from (depth, oldest, failed)

        workers = gauge("rq_workers_alive", "RQ workers with a live heartbeat.")
        workers.add_metric([], figures.workers_alive())
        yield workers

        lease = figures.scheduler_lease()
        leader = gauge("scheduler_leader", "1 while a scheduler process holds the leader lease.")
        leader.add_metric([], int(lease.held))
        yield leader
        remaining = gauge("scheduler_lease_seconds", "Seconds left on the scheduler leader's lease.")
        remaining.add_metric([], lease.expires_in_seconds)
        yield remaining

        responses = CounterMetricFamily("console_http_responses", "HTTP responses served, by status class.",
                                        labels=["code_class"])
        counted = figures.http_responses()
        for code_class in ("2xx", "3xx", "4xx", "5xx"):
            responses.add_metric([code_class], counted.get(code_class, 0))
        yield responses


def registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConsoleCollector())
    return registry
