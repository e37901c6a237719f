"""Console -> Directus, second half: send the outbox.

Order of work for one connection: take the due pending entries, oldest first -> keep the newest snapshot
per item (older entries of the same item are superseded by it once it is sent, so an item never goes back
in time) -> per collection, read which keys exist (Directus has no upsert) -> batch PATCH the existing ones,
batch POST the new ones, batch DELETE -> record what was written (`MirroredItem`: the baseline a Directus
edit is compared with, and the version that recognises the console's own write coming back).

A failure leaves the entries pending with a growing delay (5 s, 10 s, 20 s ... 15 min) and the error on
them; a batch refused as a whole (400) is retried item by item so one bad item does not hold the others.
Nothing is dropped while Directus is down.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from redis.exceptions import RedisError

from apps.core import redis_clients
from apps.core.http import ApiError, ClientError
from apps.core.models import Connection
from apps.directus import schema
from apps.directus.client import DirectusClient, error_code
from apps.directus.models import MirroredItem, OutboxEntry

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 900
LOCK_SECONDS = 300


@dataclass
class PushReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)

    def summary(self) -> str:
        return (f"{len(self.created)} créé(s), {len(self.updated)} mis à jour, {len(self.deleted)} supprimé(s), "
                f"{len(self.failed)} en échec")


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1)))


def body_for(entry: OutboxEntry, mirrored: MirroredItem | None, *, full: bool) -> dict:
    """The item to write. An update from a hub change sends only the fields that changed since the last write,
    so a concurrent edit made in Directus to another field survives (and is then seen: its version no longer
    matches). A creation, a restore and a resync send every field."""
    collection = schema.COLLECTIONS[entry.collection]
    data = {name: entry.payload.get(name) for name in collection.field_names}
    sent = data
    if not full and mirrored is not None and mirrored.payload:
        before = schema.normalised(collection, mirrored.payload)
        after = schema.normalised(collection, data)
        sent = {name: value for name, value in data.items() if after[name] != before[name]}
    return {
        schema.PRIMARY_KEY: entry.item_id,
        **sent,
        schema.VERSION_FIELD: schema.version(collection, data),
        schema.NOTE_FIELD: mirrored.note if mirrored else "",
    }


FULL_REASONS = (OutboxEntry.Reason.RESTORE, OutboxEntry.Reason.RESYNC)


def push_pending(connection: Connection, *, client: DirectusClient | None = None,
                 batch_size: int = BATCH_SIZE) -> PushReport:
    report = PushReport()
    now = timezone.now()
    due = list(OutboxEntry.objects.filter(connection=connection, status=OutboxEntry.Status.PENDING,
                                          next_attempt_at__lte=now).order_by("id")[:batch_size])
    if not due:
        return report
    client = client or DirectusClient(connection)
    # The newest pending snapshot of each item, wherever it sits (it may be newer than this batch).
    item_keys = {(entry.collection, entry.item_id) for entry in due}
    newest_ids = {
        (row["collection"], row["item_id"]): row["newest"]
        for row in OutboxEntry.objects.filter(connection=connection, status=OutboxEntry.Status.PENDING,
                                              item_id__in={item_id for _c, item_id in item_keys})
        .values("collection", "item_id").annotate(newest=Max("id"))
        if (row["collection"], row["item_id"]) in item_keys
    }
    newest = {entry.pk: entry for entry in OutboxEntry.objects.filter(pk__in=newest_ids.values())}
    by_collection: dict[str, list[OutboxEntry]] = {}
    for key, entry_id in newest_ids.items():
        by_collection.setdefault(key[0], []).append(newest[entry_id])
    for collection in schema.COLLECTIONS:  # companies before contacts, quotes before invoices...
        entries = sorted(by_collection.get(collection, []), key=lambda e: e.pk)
        if entries:
            _push_collection(connection, client, collection, entries, report)
    return report


def _push_collection(connection, client, collection, entries, report) -> None:
    name = schema.collection_name(connection, collection)
    try:
        existing = client.existing_keys(name, [entry.item_id for entry in entries])
    except ApiError as exc:
        _failed(entries, exc, report)
        return
    upserts = [e for e in entries if e.operation == OutboxEntry.Operation.UPSERT]
    deletes = [e for e in entries if e.operation == OutboxEntry.Operation.DELETE and e.item_id in existing]
    gone = [e for e in entries if e.operation == OutboxEntry.Operation.DELETE and e.item_id not in existing]
    mirrored = {m.item_id: m for m in MirroredItem.objects.filter(
        connection=connection, collection=collection, item_id__in=[e.item_id for e in upserts])}
    to_update = [e for e in upserts if e.item_id in existing]
    to_create = [e for e in upserts if e.item_id not in existing]
    for group, call, names in ((to_update, client.update_items, report.updated),
                               (to_create, client.create_items, report.created)):
        if group:
            bodies = {e.item_id: body_for(e, mirrored.get(e.item_id),
                                          full=group is to_create or e.reason in FULL_REASONS) for e in group}
            _send(connection, collection, name, group, bodies, call, names, report,
                  fallback=client.update_items if group is to_create else None)
    if deletes:
        try:
            client.delete_items(name, [e.item_id for e in deletes])
        except ApiError as exc:
            _failed(deletes, exc, report)
        else:
            _done(connection, collection, deletes, bodies={}, deleted=True)
            report.deleted.extend(f"{name}/{e.item_id}" for e in deletes)
    if gone:  # already absent in Directus: nothing to delete
        _done(connection, collection, gone, bodies={}, deleted=True)


def _send(connection, collection, name, entries, bodies, call, names, report, *, fallback=None) -> None:
    try:
        call(name, [bodies[e.item_id] for e in entries])
    except ClientError as exc:
        if len(entries) > 1 and exc.status == 400:
            for entry in entries:  # find the item Directus refuses; send the others
                _send(connection, collection, name, [entry], bodies, call, names, report, fallback=fallback)
            return
        if fallback is not None and error_code(exc.payload) == "RECORD_NOT_UNIQUE":
            # Created meanwhile (another writer): the full body is a valid update.
            _send(connection, collection, name, entries, bodies, fallback, report.updated, report)
            return
        _failed(entries, exc, report)
        return
    except ApiError as exc:
        _failed(entries, exc, report)
        return
    _done(connection, collection, entries, bodies=bodies)
    names.extend(f"{name}/{e.item_id}" for e in entries)


def _done(connection, collection, entries, *, bodies, deleted=False) -> None:
    now = timezone.now()
    with transaction.atomic():
        for entry in entries:
            OutboxEntry.objects.filter(pk=entry.pk).update(status=OutboxEntry.Status.SENT, sent_at=now,
                                                           attempts=F("attempts") + 1, last_error="")
            # Older snapshots of the same item: this newer one replaced them in Directus.
            OutboxEntry.objects.filter(
                connection=connection, collection=collection, item_id=entry.item_id,
                status=OutboxEntry.Status.PENDING, pk__lt=entry.pk,
            ).update(status=OutboxEntry.Status.SUPERSEDED, sent_at=now)
            if deleted:
                MirroredItem.objects.filter(connection=connection, collection=collection,
                                            item_id=entry.item_id).delete()
                continue
            body = bodies[entry.item_id]
            MirroredItem.objects.update_or_create(
                connection=connection, collection=collection, item_id=entry.item_id,
                defaults={"version": body[schema.VERSION_FIELD],
                          "payload": {k: entry.payload.get(k) for k in schema.COLLECTIONS[collection].field_names},
                          "pushed_at": now},
            )


def _failed(entries, exc: Exception, report: PushReport) -> None:
    now = timezone.now()
    for entry in entries:
        attempts = entry.attempts + 1
        OutboxEntry.objects.filter(pk=entry.pk).update(
            attempts=attempts, next_attempt_at=now + backoff(attempts), last_error=str(exc)[:500],
        )
        # Older pending snapshots of the item wait with it, so they never overtake it.
        OutboxEntry.objects.filter(connection=entry.connection_id, collection=entry.collection,
                                   item_id=entry.item_id, status=OutboxEntry.Status.PENDING,
                                   pk__lt=entry.pk).update(next_attempt_at=now + backoff(attempts))
        report.failed.append(f"{entry.collection}/{entry.item_id}")
    logger.warning("Directus : %s écriture(s) en attente après échec : %s", len(entries), exc)


@contextmanager
def push_lock(connection: Connection, *, wait_seconds: float | None = None):
    """One pusher per connection across processes (a Redis lock); yields False when another one holds it.

    Without Redis the push goes ahead: two pushers at once stay correct (stable keys, a creation that
    collides becomes an update), only less tidy.
    """
    try:
        lock = redis_clients.for_queue("sync").lock(f"directus:push:{connection.pk}", timeout=LOCK_SECONDS,
                                                    blocking=wait_seconds is not None,
                                                    blocking_timeout=wait_seconds)
        acquired = lock.acquire()
    except RedisError:
        lock, acquired = None, True
    try:
        yield acquired
    finally:
        if lock is not None and acquired:
            try:
                lock.release()
            except RedisError:
                pass


def push_all_due(connection: Connection, *, rounds: int = 20) -> PushReport:
    """Push until nothing due is left (or a failure stops progress), within `rounds` batches."""
    total = PushReport()
    for _ in range(rounds):
        report = push_pending(connection)
        for name in ("created", "updated", "deleted", "failed"):
            getattr(total, name).extend(getattr(report, name))
        if not report.written or report.failed:
            break
    return total


def pending_count(connection: Connection) -> int:
    return OutboxEntry.objects.filter(connection=connection, status=OutboxEntry.Status.PENDING).count()
