"""Processing of stored deliveries by the `webhooks` RQ queue: the job, its retries, and replay.

Handler contract — `Provider.webhook_handlers[event_type] = handler`, called as `handler(event)`:

- `event` is the `WebhookEvent` (raw payload in `event.body`, bytes; `event.connection`, `event.event_type`,
  `event.provider_event_id`). The return value is ignored.
- It runs in a worker, inside a savepoint: if it raises, every database write it made is rolled back, the
  traceback is kept on the event (status `failed`) and the job is retried with backoff (RQ `Retry`) —
  unless the error is permanent (`is_permanent`: the payload holds values the database or the code refuses,
  e.g. an amount of 1e400, NaN, an id longer than its column): a retry would meet the same payload, so
  the event fails at once with a readable reason and is not retried (an admin can replay it after a fix).
- Only the event's row is locked while the handler runs: deliveries to the same connection are stored
  meanwhile, however long the handler takes.
- It must be idempotent. The same event can be handled more than once — a retry after a partial failure,
  an admin "Rejouer", the sweeper re-enqueueing after a worker crash — and a second run must have no second
  effect: upsert by external id, check the record's state before acting, key outbound actions.
"""

from __future__ import annotations

import logging
import traceback

import requests
from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone
from rq import Retry

from apps.core import jobs, providers, signals
from apps.core.http import ApiError
from apps.core.models import WebhookEvent
from apps.core.storable import storable_text
from apps.core.webhooks import claim

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status

# Events in these states are never handled again by the job (replay first resets them to `queued`).
SETTLED = (Status.PROCESSED, Status.IGNORED, Status.DUPLICATE, Status.REJECTED)
# A rejected delivery was never verified and a duplicate is only a receipt: neither may be replayed.
REPLAYABLE = (Status.RECEIVED, Status.QUEUED, Status.FAILED, Status.PROCESSED, Status.IGNORED)
DEFAULT_RETRY_INTERVALS = (30, 120, 600)


# Errors a retry cannot fix: the same payload would be refused the same way.
PERMANENT_ERRORS = (DataError, ValueError, TypeError, ArithmeticError, LookupError, RecursionError)
# ... except errors of a conversation with a vendor (a garbled answer may be fine next time).
TRANSIENT_ERRORS = (requests.RequestException, ApiError)


# Integrity errors that a retry cannot fix either: a CHECK (SQLite's JSON_VALID too) or NOT NULL refusal —
# unlike a unique or foreign-key conflict, which a concurrent write or a later event may resolve.
PERMANENT_SQLSTATES = ("23514", "23502")
PERMANENT_SQLITE_MESSAGES = ("CHECK constraint failed", "NOT NULL constraint failed")


def is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError):
        sqlstate = getattr(exc.__cause__, "sqlstate", None)
        return sqlstate in PERMANENT_SQLSTATES or str(exc).startswith(PERMANENT_SQLITE_MESSAGES)
    return isinstance(exc, PERMANENT_ERRORS) and not isinstance(exc, TRANSIENT_ERRORS)


class HandlerFailed(Exception):
    """Raised by the job after a failure has been recorded, so that RQ schedules the next retry."""


def retry_policy() -> Retry:
    intervals = list(getattr(settings, "WEBHOOK_RETRY_INTERVALS", DEFAULT_RETRY_INTERVALS))
    return Retry(max=len(intervals), interval=intervals)


def job_id_for(event_id: int) -> str:
    """One job id per event, so the sweeper can tell a lost job from a live one (apps.core.jobs)."""
    return f"webhook-event-{event_id}"


def enqueue_processing(event_id: int) -> bool:
    """Put the event on the `webhooks` queue now; False when Redis is unreachable (the sweeper will retry)."""
    job = jobs.enqueue_now(process_event, event_id, queue="webhooks", retry=retry_policy(),
                           job_id=job_id_for(event_id))
    if job is None:
        return False
    # A fast worker may already have claimed it: only a row still `received` becomes `queued`.
    WebhookEvent.objects.filter(pk=event_id, status=Status.RECEIVED).update(status=Status.QUEUED)
    return True


def handler_for(event: WebhookEvent):
    try:
        provider = providers.get(event.provider)
    except providers.UnknownProvider:
        return None
    return provider.webhook_handlers.get(event.event_type)


def process_event(event_id: int) -> str:
    """The RQ job. Returns the final status; raises HandlerFailed (after recording it) when the handler fails."""
    # Claim: visible to the admin as `processing`. A concurrent job holding the row lock below makes this
    # UPDATE wait, then match nothing once the event is settled.
    if not claim.claim(event_id, SETTLED):
        return "skipped"

    failure = None
    with transaction.atomic():
        # The event's row only: locking its connection too would hold every new delivery to that connection
        # (whose insert checks the connection row) for as long as the handler runs.
        # (SQLite has no row locks: the claim above and the settled check below keep one run per event there.)
        # The connection's encrypted fields are left deferred: a handler that reads one loads it then (one query);
        # most handlers never do, and decrypting three secrets per event is not free.
        status = claim.lock(event_id)
        event = claim.read(event_id) if status is not None and status not in SETTLED else None
        if event is None:
            return "skipped"
        handler = handler_for(event)
        if handler is None:
            event.status = Status.IGNORED
            event.last_error = "Aucun gestionnaire pour ce type d'événement."
            event.save(update_fields=["status", "last_error"])
        else:
            try:
                with transaction.atomic():
                    handler(event)
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if is_permanent(exc):
                    reason = f"Données refusées, sans nouvel essai ({reason})"
                else:
                    failure = exc
                event.status = Status.FAILED
                event.last_error = storable_text(reason)[:500]
                event.traceback = storable_text(traceback.format_exc())
                event.save(update_fields=["status", "last_error", "traceback"])
                if failure is None:
                    logger.warning("Webhook %s refusé définitivement : %s", event_id, event.last_error)
            else:
                event.status = Status.PROCESSED
                event.processed_at = timezone.now()
                event.last_error = ""
                event.traceback = ""
                event.save(update_fields=["status", "processed_at", "last_error", "traceback"])
        transaction.on_commit(
            lambda: signals.webhook_event_processed.send(sender=WebhookEvent, event=event)
        )

    if failure is not None:
        logger.warning("Échec du traitement du webhook %s (tentative %s)", event_id, event.attempts)
        raise HandlerFailed(f"Webhook {event_id} : {event.last_error}") from failure
    return event.status


def replay(queryset) -> int:
    """Reset replayable events to `queued` and enqueue them after commit. Returns how many were replayed.

    Replaying an event that was already processed runs its handler again, which the handler contract makes
    harmless. If Redis is down the rows stay `queued` and the sweeper enqueues them later.
    """
    event_ids = list(queryset.filter(status__in=REPLAYABLE).values_list("pk", flat=True))
    if not event_ids:
        return 0
    with transaction.atomic():
        WebhookEvent.objects.filter(pk__in=event_ids).update(status=Status.QUEUED, last_error="")
        for event_id in event_ids:
            transaction.on_commit(lambda event_id=event_id: enqueue_processing(event_id))
    return len(event_ids)


def mark_ignored(queryset) -> int:
    """Give up on events that are waiting or failed; settled ones keep their status."""
    return queryset.filter(status__in=(Status.RECEIVED, Status.QUEUED, Status.FAILED)).update(status=Status.IGNORED)
