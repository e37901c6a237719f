"""Storing deliveries: verified ones (with redelivery detection) and rejected ones (with a storage cap)."""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from redis.exceptions import RedisError
from structlog.contextvars import get_contextvars

from apps.core import redis_clients, signals
from apps.core.models import Connection, WebhookEvent
from apps.core.providers import EventDescription, Provider
from apps.core.storable import storable_text
from apps.core.webhooks.redaction import redact_headers

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status


def store_verified(connection: Connection, provider: Provider, description: EventDescription, *,
                   body: bytes, headers, remote_addr: str | None) -> WebhookEvent:
    """Store a verified delivery: one INSERT, and nothing written to Redis.

    A delivery to process is stored `received`; the worker's dispatcher (dispatch.py) hands it to the queue once
    the row is committed, whether the INSERT was its own transaction (a server, in autocommit) or a caller's,
    committed later (or never: then nobody sees it).

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
        "correlation_id": get_contextvars().get("correlation_id", ""),
    }
    in_transaction = transaction.get_connection().in_atomic_block
    if not connection.is_active:
        fields |= {"status": Status.IGNORED, "last_error": "Connexion désactivée : événement non traité."}
    elif description.event_type not in provider.webhook_handlers:
        fields["status"] = Status.IGNORED
    else:
        fields["status"] = Status.RECEIVED

    try:
        event = _insert(fields, in_transaction)
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

    if event.status != Status.RECEIVED:  # one to process is announced by the dispatcher, with its batch
        transaction.on_commit(lambda: signals.webhook_event_stored.send(sender=WebhookEvent, event=event))
    return event


def _insert(fields: dict, in_transaction: bool) -> WebhookEvent:
    if in_transaction:
        # Inside a caller's transaction a failed INSERT must not spoil it: a savepoint around it.
        with transaction.atomic():
            return _insert_row(fields)
    # In autocommit the INSERT is its own transaction: no BEGIN / COMMIT round trips around it.
    return _insert_row(fields)


def _insert_row(fields: dict) -> WebhookEvent:
    """`WebhookEvent.objects.create(**fields)`, for a fraction of its CPU: the same row (every column, the
    defaults and `received_at` as the model gives them, each value prepared by its own field), the same
    pre_save / post_save signals, but the INSERT's SQL built once per database instead of compiled per call
    (the ORM's create cost about five times the statement itself). Raises IntegrityError as create does.
    """
    using = router.db_for_write(WebhookEvent)
    db = connections[using]
    event = WebhookEvent(**fields)
    pre_save.send(sender=WebhookEvent, instance=event, raw=False, using=using, update_fields=None)
    columns = _insert_columns()
    # pre_save as the ORM calls it on an insert (it sets received_at, an auto_now_add field).
    params = [field.get_db_prep_save(field.pre_save(event, True), db) for field in columns]
    sql, returns = _insert_sql(db, columns)
    with _insert_cursor(db) as cursor:
        cursor.execute(sql, params)
        event.pk = cursor.fetchone()[0] if returns else db.ops.last_insert_id(
            cursor, WebhookEvent._meta.db_table, WebhookEvent._meta.pk.column)
    event._state.adding = False
    event._state.db = using
    post_save.send(sender=WebhookEvent, instance=event, created=True, update_fields=None, raw=False, using=using)
    return event


def _insert_cursor(db):
    """`db.cursor()`, except on PostgreSQL, where this cursor binds the parameters on the server: Django's usual
    psycopg cursor quotes every value into the SQL text in Python (the body, the headers' JSON and twelve
    more), which cost a delivery about half as much CPU again as the whole INSERT of a bare view."""
    if db.vendor != "postgresql":
        return db.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    cursor = ServerBindingCursor(db.connection)
    return db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)


@functools.cache
def _insert_columns() -> tuple:
    return tuple(f for f in WebhookEvent._meta.concrete_fields if not f.primary_key)


_insert_statements: dict[str, tuple[str, bool]] = {}


def _insert_sql(db, columns) -> tuple[str, bool]:
    statement = _insert_statements.get(db.vendor)
    if statement is None:
        quote = db.ops.quote_name
        returns = db.features.can_return_columns_from_insert
        sql = "INSERT INTO {} ({}) VALUES ({}){}".format(
            quote(WebhookEvent._meta.db_table), ", ".join(quote(f.column) for f in columns),
            ", ".join(["%s"] * len(columns)), f" RETURNING {quote(WebhookEvent._meta.pk.column)}" if returns else "")
        statement = _insert_statements[db.vendor] = (sql, returns)
    return statement


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
        redis = redis_clients.for_queue("webhooks")
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
