"""Handing stored deliveries to the worker: the inbox's row is the queue.

The inbox's request only INSERTs the delivery, as `received` (inbox.py), and writes nothing to Redis. The
worker's dispatcher (`Dispatcher`, a thread of apps.core.worker.ConsoleWorker) looks for waiting rows every
`POLL_SECONDS` (one indexed query when there are none), takes them with `FOR UPDATE SKIP LOCKED`, marks them
`queued` and enqueues their jobs in one Redis pipeline per batch: a burst costs Redis one pipeline per
`BATCH_SIZE` deliveries instead of a job write in each request. The worker's loop also dispatches before each
dequeue, so a worker in burst mode (no thread) finds what is waiting.

Polled rather than woken by PostgreSQL's NOTIFY: a transaction that notifies takes a database-wide lock at
commit, so concurrent deliveries would commit one after the other (measured: bench/README.md, "Webhook
ingest").

Nothing is lost on the way: rows the dispatcher could not enqueue (Redis down) go back to `received`, and a
dispatcher that died between its UPDATE and its pipeline leaves `queued` rows without a job; the sweeper
re-enqueues both (maintenance.py). On SQLite two dispatchers may take the same rows (no row locks there): their
jobs share the event's job id, and the job skips a settled event, so it is processed once.
"""

from __future__ import annotations

import logging
import threading

import django_rq
from django.db import DatabaseError, connections, router, transaction
from redis.exceptions import RedisError
from rq import Queue

from apps.core import redis_clients, signals
from apps.core.models import WebhookEvent
from apps.core.webhooks.processing import job_id_for, process_event, retry_policy

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status

QUEUE = "webhooks"
BATCH_SIZE = 500
# How often the dispatcher looks for waiting rows: what a delivery may wait before its job exists.
POLL_SECONDS = 0.1
RETRY_MAX_SECONDS = 5.0


def dispatch_received(limit: int = BATCH_SIZE) -> int:
    """Enqueue the jobs of up to `limit` waiting deliveries, oldest first; how many were enqueued.
    Raises DatabaseError when the database does not answer; Redis refusing leaves the rows `received`."""
    if not WebhookEvent.objects.filter(status=Status.RECEIVED).exists():
        return 0  # the usual answer of a poll: one query, no transaction
    with transaction.atomic(using=router.db_for_write(WebhookEvent)):
        waiting = list(
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(status=Status.RECEIVED)
            .order_by("received_at")
            .values_list("pk", "correlation_id")[:limit]
        )
        if not waiting:
            return 0
        ids = [pk for pk, _ in waiting]
        WebhookEvent.objects.filter(pk__in=ids, status=Status.RECEIVED).update(status=Status.QUEUED)
    try:
        _enqueue(waiting)
    except RedisError as exc:
        # Only rows no worker has claimed meanwhile (none can: they have no job yet) go back.
        WebhookEvent.objects.filter(pk__in=ids, status=Status.QUEUED).update(status=Status.RECEIVED)
        logger.warning("Redis indisponible : %s webhooks restent en attente de mise en file (%s)", len(ids), exc)
        return 0
    signals.webhook_events_queued.send(sender=WebhookEvent, event_ids=ids)
    return len(ids)


def dispatch_all() -> int:
    """Dispatch batch after batch while full ones come; how many were enqueued."""
    dispatched = total = dispatch_received(BATCH_SIZE)
    while dispatched == BATCH_SIZE:
        dispatched = dispatch_received(BATCH_SIZE)
        total += dispatched
    return total


def _enqueue(waiting: list[tuple[int, str]]) -> None:
    redis = redis_clients.for_queue(QUEUE)
    queue = django_rq.get_queue(QUEUE, commit_mode="auto", connection=redis)
    retry = retry_policy()
    # The job carries the delivery request's correlation id, so its log lines join the request's.
    jobs = [Queue.prepare_data(process_event, (pk,), job_id=job_id_for(pk), retry=retry,
                               meta={"correlation_id": correlation_id} if correlation_id else None)
            for pk, correlation_id in waiting]
    with redis.pipeline() as pipe:
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()


class Dispatcher(threading.Thread):
    """The worker's thread that dispatches what waits, every POLL_SECONDS. Survives the database and Redis going
    away: it retries with backoff."""

    def __init__(self):
        super().__init__(name="webhook-dispatcher", daemon=True)
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        delay = POLL_SECONDS
        while not self._stopped.wait(delay):
            try:
                dispatch_all()
                delay = POLL_SECONDS
            except Exception as exc:
                delay = min(max(delay * 2, 0.5), RETRY_MAX_SECONDS)
                if isinstance(exc, (DatabaseError, RedisError)):
                    logger.warning("Répartiteur de webhooks : %s ; nouvel essai dans %.1f s", exc, delay)
                else:
                    logger.exception("Répartiteur de webhooks : erreur inattendue ; nouvel essai dans %.1f s", delay)
                connections[router.db_for_write(WebhookEvent)].close()
        connections.close_all()
