"""Webhooks Revolut gave up on, recovered by the reconciliation job.

Revolut retries a failed delivery 3 more times, 10 minutes apart, then lists it for 21 days under
GET /api/2.0/webhooks/{id}/failed-events, newest first (NOTES §4.1, §4.3). Each listed payload is stored
through the kernel's inbox like a delivery that came over HTTP (`store_verified`: it came from an
authenticated API answer, not from an unsigned request), so the same handlers process it. An event whose
derived key is already stored — it did arrive, or an earlier run recovered it — is left alone.

Checkpoint: `config["webhook"]["failed_events_until"]`, the newest `created_at` recovered. Each run
re-reads from an hour before it: an event created earlier can be given up on later (its retries run
30 minutes, longer when the endpoint times out), and the key check makes re-reading harmless.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core import providers
from apps.core.models import Connection, WebhookEvent
from apps.core.webhooks.inbox import store_verified
from apps.revolut import webhooks
from apps.revolut.client import RevolutClient
from apps.revolut.webhook_registration import registration

PAGE = 100
RETENTION = timedelta(days=21)
OVERLAP = timedelta(hours=1)
CHECKPOINT = "failed_events_until"


def recover(connection: Connection, client: RevolutClient | None = None) -> int:
    """Store (and so process) the failed events not stored yet; the number stored."""
    info = registration(connection)
    if not info.get("id"):
        return 0
    client = client or RevolutClient(connection)
    until = parse_datetime(info.get(CHECKPOINT) or "")
    # Revolut refuses a created_before older than 21 days; a minute of margin for the clocks.
    oldest = timezone.now() - RETENTION + timedelta(minutes=1)
    since = max(until - OVERLAP, oldest) if until else oldest
    items = _listed_since(client, info["id"], since)
    stored = 0
    newest = until
    for item in sorted(items, key=lambda item: item["created_at"]):  # oldest first, as they happened
        stored += _store(connection, item)
        created_at = parse_datetime(item["created_at"])
        newest = max(newest, created_at) if newest else created_at
    if newest and newest != until:
        _save_checkpoint(connection, info["id"], newest)
    return stored


def _listed_since(client: RevolutClient, webhook_id: str, since) -> list[dict]:
    """Failed events created after `since`, page by page (next page: created_before = last created_at)."""
    found, created_before = [], None
    while True:
        page = client.list_failed_webhook_events(webhook_id, limit=PAGE, created_before=created_before)
        recent = [item for item in page if parse_datetime(item.get("created_at") or "") and
                  parse_datetime(item["created_at"]) > since]
        found.extend(recent)
        if len(page) < PAGE or len(recent) < len(page) or page[-1]["created_at"] == created_before:
            return found
        created_before = page[-1]["created_at"]


def _store(connection: Connection, item: dict) -> int:
    payload = item.get("payload")
    if not isinstance(payload, dict):
        return 0
    body = json.dumps(payload, separators=(",", ":")).encode()
    try:
        description = webhooks.describe_event(body, {}, None)
    except ValueError:
        return 0
    if WebhookEvent.objects.filter(connection=connection, provider_event_id=description.event_key[:255]).exists():
        return 0
    with transaction.atomic():
        store_verified(connection, providers.get(connection.provider), description, body=body, remote_addr=None,
                       headers={"X-Revolut-Failed-Event-Id": str(item.get("id", "")),
                                "X-Revolut-Last-Sent-Date": str(item.get("last_sent_date", ""))})
    return 1


def _save_checkpoint(connection: Connection, webhook_id: str, newest) -> None:
    with transaction.atomic():
        locked = Connection.objects.select_for_update().get(pk=connection.pk)
        info = dict(locked.config.get("webhook") or {})
        if info.get("id") != webhook_id:  # re-registered meanwhile: the new webhook starts afresh
            return
        info[CHECKPOINT] = newest.isoformat()
        locked.config = {**locked.config, "webhook": info}
        locked.save(update_fields=["config", "updated_at"])
    connection.config = locked.config
