"""Storing deliveries: verified ones (with redelivery detection) and rejected ones (with a storage cap)."""

from __future__ import annotations

import logging
from datetime import timedelta

import django_rq
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import RedisError

from apps.core import signals
from apps.core.models import Connection, WebhookEvent
from apps.core.providers import EventDescription, Provider
from apps.core.storable import storable_text
from apps.core.webhooks.processing import enqueue_processing
from apps.core.webhooks.redaction import redact_headers

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status


def store_verified(connection: Connection, provider: Provider, description: EventDescription, *,
                   body: bytes, headers, remote_addr: str | None) -> WebhookEvent:
    """Store a verified delivery and enqueue its processing after commit.

    The partial unique constraint on (connection, provider_event_id) decides which of two concurrent
    deliveries of one event wins; the loser is stored as `duplicate` and never processed.
    """
    fields = {
        "connection": connection,
        "provider": connection.provider,
        # The body is bytes (stored as is); the type and key come from it and may hold anything.
        "event_type": storable_text(description.event_type)[:120],
        "provider_event_id": storable_text(description.event_key)[:255],
        "body": body,
        "headers": redact_headers(headers),
        "remote_addr": remote_addr,
    }
    if not connection.is_active:
        fields |= {"status": Status.IGNORED, "last_error": "Connexion désactivée : événement non traité."}
    elif description.event_type not in provider.webhook_handlers:
        fields["status"] = Status.IGNORED
    else:
        fields["status"] = Status.RECEIVED

    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(**fields)
    except IntegrityError:
        original = (
            WebhookEvent.objects.filter(connection=connection, provider_event_id=fields["provider_event_id"])
            .exclude(status__in=(Status.DUPLICATE, Status.REJECTED))
            .first()
        )
        if original is None or not fields["provider_event_id"]:
            raise
        # A receipt, not a second copy: the body stays on the original only (a replay flood does not grow
        # the table by its body each time), the original counts the redeliveries.
        fields |= {"status": Status.DUPLICATE, "duplicate_of": original, "last_error": "", "body": b""}
        event = WebhookEvent.objects.create(**fields)
        WebhookEvent.objects.filter(pk=original.pk).update(
            duplicate_count=F("duplicate_count") + 1, last_duplicate_at=event.received_at)

    if event.status == Status.RECEIVED:
        # If Redis is down the row stays `received`: acknowledged, and picked up later by the sweeper.
        def enqueue():
            if enqueue_processing(event.pk):
                event.status = Status.QUEUED

        transaction.on_commit(enqueue)
    transaction.on_commit(lambda: signals.webhook_event_stored.send(sender=WebhookEvent, event=event))
    return event


def store_rejected(connection: Connection, *, body: bytes, headers, error: str,
                   remote_addr: str | None) -> WebhookEvent | None:
    """Keep a refused delivery for the audit log, unless this connection's hourly quota is spent."""
    if not _rejection_quota_left(connection):
        logger.warning("Quota de webhooks rejetés atteint pour la connexion %s : corps non conservé", connection.pk)
        return None
    event = WebhookEvent.objects.create(
        connection=connection,
        provider=connection.provider,
        status=Status.REJECTED,
        body=body,
        headers=redact_headers(headers),
        remote_addr=remote_addr,
        last_error=storable_text(error)[:500],
    )
    transaction.on_commit(lambda: signals.webhook_event_stored.send(sender=WebhookEvent, event=event))
    return event


def _rejection_quota_left(connection: Connection) -> bool:
    limit = settings.WEBHOOK_REJECTED_MAX_PER_HOUR
    hour = timezone.now().strftime("%Y%m%d%H")
    key = f"webhooks:rejected:{connection.pk}:{hour}"
    try:
        redis = django_rq.get_connection("webhooks")
        with redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, 3700)
            count, _ = pipe.execute()
        return count <= limit
    except RedisError:
        # Without Redis, count in the database (index on connection, received_at).
        since = timezone.now() - timedelta(hours=1)
        stored = WebhookEvent.objects.filter(
            connection=connection, received_at__gte=since, status=Status.REJECTED
        )[: limit].count()
        return stored < limit
