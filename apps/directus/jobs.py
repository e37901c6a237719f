"""Jobs of the Directus app: pushing the outbox (after each hub commit and every 15 s), polling, and purging
sent outbox rows after a week.

One push per connection at a time: a Redis lock that a second job does not wait for (the first one is
already sending; what it misses is picked up by the next run).
"""

from __future__ import annotations

from apps.core.models import Connection
from apps.core.sync import sync_all
from apps.directus import push


def push_connection(connection_id: int) -> str:
    connection = Connection.objects.filter(pk=connection_id, provider="directus", is_active=True).first()
    if connection is None:
        return "inactive"
    with push.push_lock(connection) as acquired:
        if not acquired:
            return "busy"  # another pusher is sending; what it misses, the next run takes
        return push.push_all_due(connection).summary()


def push_outbox() -> int:
    """Periodic: push every active Directus connection's due entries (retries after backoff land here)."""
    pushed = 0
    for connection_id in Connection.objects.filter(provider="directus", is_active=True).values_list("pk", flat=True):
        push_connection(connection_id)
        pushed += 1
    return pushed


def poll() -> int:
    """Periodic: incremental read of every mirror collection on `date_updated` (Flows have no retry)."""
    return sync_all(provider_key="directus")


SENT_RETENTION_DAYS = 7
PURGE_BATCH = 1000


def purge_sent(batches: int = 20) -> int:
    """Periodic: forget outbox rows sent or superseded more than a week ago, in small batches."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.directus.models import OutboxEntry

    cutoff = timezone.now() - timedelta(days=SENT_RETENTION_DAYS)
    purged = 0
    for _ in range(batches):
        ids = list(OutboxEntry.objects.exclude(status=OutboxEntry.Status.PENDING)
                   .filter(sent_at__lt=cutoff).values_list("pk", flat=True)[:PURGE_BATCH])
        if not ids:
            break
        purged += OutboxEntry.objects.filter(pk__in=ids).delete()[0]
    return purged
