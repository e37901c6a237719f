"""Console -> Directus, first half: every hub change becomes outbox entries in the same transaction.

The receivers below are connected to post_save / post_delete of the hub models (apps.py). They run inside
the transaction that saves the hub record, so the entry is committed with the change or not at all; the
push job is enqueued only after commit (push.py sends). One entry per (active Directus connection, item):
the record's own item and the integration statuses it feeds (records.affected_items). Entries carry a
snapshot; the push sends the latest one per item, so order per record is kept.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.core import jobs
from apps.core.models import Connection
from apps.directus import records
from apps.directus.models import OutboxEntry, StatusFacts

PROVIDER = "directus"


def active_connections() -> list[Connection]:
    return list(Connection.objects.filter(provider=PROVIDER, is_active=True))


def add(connection: Connection, collection: str, obj=None, *, item_id: str | None = None,
        operation: str = OutboxEntry.Operation.UPSERT, reason: str = OutboxEntry.Reason.HUB) -> OutboxEntry:
    """Store one entry (a snapshot of `obj` for an upsert) and schedule a push after commit."""
    if operation == OutboxEntry.Operation.UPSERT:
        payload = records.serialize(collection, obj)
        item_id = payload["id"]
    else:
        payload = {}
        item_id = item_id or (records.stable_id(obj) if obj is not None else None)
    entry = OutboxEntry.objects.create(
        connection=connection, collection=collection, item_id=item_id, operation=operation, payload=payload,
        reason=reason, next_attempt_at=timezone.now(),
    )
    schedule_push(connection.pk)
    return entry


def record_change(obj, *, deleted: bool = False, connections=None) -> int:
    connections = active_connections() if connections is None else connections
    if not connections:
        return 0
    written = 0
    for collection, record in records.affected_items(obj):
        is_self = record is obj
        for connection in connections:
            if deleted and is_self:
                add(connection, collection, item_id=records.stable_id(obj), operation=OutboxEntry.Operation.DELETE,
                    reason=OutboxEntry.Reason.HUB)
            elif record is not None and record.pk is not None:
                add(connection, collection, record,
                    reason=OutboxEntry.Reason.HUB if collection != "integration_status" else OutboxEntry.Reason.STATUS)
            written += 1
    return written


# Signal receivers ---------------------------------------------------------------------------------

def hub_saved(sender, instance, raw=False, **kwargs):
    if raw:  # loaddata: fixtures are not hub edits
        return
    record_change(instance)


def hub_created_in_bulk(sender, instances, **kwargs):
    """A page of hub rows a sync inserted at once: the active connections are read once for all of them."""
    connections = active_connections()
    for instance in instances if connections else ():
        record_change(instance, connections=connections)


def hub_deleted(sender, instance, **kwargs):
    record_change(instance, deleted=True)


def status_reported(sender, record=None, signature_state=None, reminder_level=None, **kwargs):
    """Receiver of `apps.core.signals.integration_status_reported`: keep the fact, push the status."""
    if record is None or not isinstance(record, tuple(records.STATUS_TYPES.values())):
        return
    record_type = records.stable_id(record).rpartition("-")[0]
    facts, _ = StatusFacts.objects.get_or_create(record_type=record_type, record_id=record.pk)
    if signature_state is not None:
        facts.signature_state = str(signature_state)[:40]
    if reminder_level is not None:
        facts.reminder_level = max(0, int(reminder_level))
    facts.reported_by = str(sender or "")[:32]
    facts.save()
    for connection in active_connections():
        add(connection, "integration_status", record, reason=OutboxEntry.Reason.STATUS)


# Push scheduling ------------------------------------------------------------------------------------

def schedule_push(connection_id: int) -> None:
    """One push job per connection per commit, however many entries the transaction wrote.

    A rolled-back transaction drops its callbacks with it: the entries are gone too, nothing to push.
    """
    db = transaction.get_connection()
    if db.in_atomic_block and any(getattr(callback, "directus_push_for", None) == connection_id
                                  for _sids, callback, *_rest in db.run_on_commit):
        return

    def enqueue():
        from apps.directus import jobs as directus_jobs

        jobs.enqueue_now(directus_jobs.push_connection, connection_id, queue="sync")

    enqueue.directus_push_for = connection_id
    transaction.on_commit(enqueue)
