"""Periodic upkeep of the inbox: re-enqueue stuck events within seconds, delete old ones in batches under a time budget."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from apps.core import jobs
from apps.core.models import WebhookEvent
from apps.core.webhooks.processing import enqueue_processing, job_id_for

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status

SETTLED_FOR_RETENTION = (Status.PROCESSED, Status.IGNORED, Status.DUPLICATE, Status.REJECTED)


def sweep_stuck_events(*, older_than: timedelta | None = None, limit: int = 500) -> int:
    """Re-enqueue events nobody is working on, and return how many were enqueued again: `received` (Redis was
    down when they came), `queued` whose job was lost (Redis restarted), `processing` whose worker died.

    Runs every 15 s (schedule.py). An event counts as stuck once older than WEBHOOK_SWEEP_AFTER_SECONDS (the
    inbox enqueues on commit, so a few seconds) and its job (one id per event, see processing.job_id_for) is
    not alive in Redis: waiting, delayed for a retry, or started by a worker that still heartbeats
    (apps.core.jobs). Enqueueing one twice is harmless anyway: the job skips settled events and the row lock
    serialises two runs.
    """
    if older_than is None:
        older_than = timedelta(seconds=settings.WEBHOOK_SWEEP_AFTER_SECONDS)
    cutoff = timezone.now() - older_than
    with transaction.atomic():
        candidate_ids = list(
            WebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(status__in=(Status.RECEIVED, Status.QUEUED, Status.PROCESSING), received_at__lt=cutoff)
            .order_by("received_at")
            .values_list("pk", flat=True)[:limit]
        )
    if not candidate_ids:
        return 0
    try:
        alive = jobs.live_job_ids([job_id_for(pk) for pk in candidate_ids], queue="webhooks")
    except RedisError as exc:
        logger.warning("Balayage reporté : Redis indisponible (%s) ; %s événements en attente", exc,
                       len(candidate_ids))
        return 0
    enqueued = 0
    for event_id in candidate_ids:
        if job_id_for(event_id) in alive:
            continue
        if not enqueue_processing(event_id):
            logger.warning("Balayage interrompu : Redis indisponible (%s événements en attente)", len(candidate_ids))
            break
        enqueued += 1
    if enqueued:
        logger.info("Balayage : %s événements remis en file", enqueued)
    return enqueued


def purge_old_events(*, time_budget_seconds: float | None = None, batch_size: int = 1000) -> dict[str, int]:
    """Delete settled events past WEBHOOK_RETENTION_DAYS and failed ones past WEBHOOK_FAILED_RETENTION_DAYS.

    Works in batches of `batch_size` ids and stops starting new batches once the budget is spent; the next
    run carries on. Returns {"deleted": n, "failed_deleted": n, "complete": 0|1}.
    """
    if time_budget_seconds is None:
        time_budget_seconds = getattr(settings, "WEBHOOK_PURGE_TIME_BUDGET_SECONDS", 60)
    deadline = time.monotonic() + time_budget_seconds
    now = timezone.now()
    plan = (
        ("deleted", SETTLED_FOR_RETENTION, now - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)),
        ("failed_deleted", (Status.FAILED,), now - timedelta(days=settings.WEBHOOK_FAILED_RETENTION_DAYS)),
    )
    result = {"deleted": 0, "failed_deleted": 0, "complete": 1}
    for counter, statuses, cutoff in plan:
        while True:
            if time.monotonic() >= deadline:
                result["complete"] = 0
                return result
            batch = list(
                WebhookEvent.objects.filter(status__in=statuses, received_at__lt=cutoff)
                .values_list("pk", flat=True)[:batch_size]
            )
            if not batch:
                break
            # only("pk"): the collector must not load a thousand raw bodies to delete them.
            _, per_model = WebhookEvent.objects.filter(pk__in=batch).only("pk").delete()
            result[counter] += per_model.get(WebhookEvent._meta.label, 0)
    return result
