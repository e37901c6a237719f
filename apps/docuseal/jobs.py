"""Periodic reconciliation: webhooks are hints, DocuSeal's state is the truth.

Every few minutes, for each active DocuSeal connection: each pending signature request is read again
(GET /submissions/{id}) and applied like a webhook would be; the completed-submissions events endpoint
(GET /events/submission/completed, undocumented, NOTES §4/§9.6) is walked from the last completion seen,
so a signature whose webhook was lost still reaches the quote; signed requests whose documents could not
be archived are tried again (fresh URLs every time).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.http import ApiError
from apps.core.models import Connection
from apps.docuseal import archive, signatures
from apps.docuseal.client import DocusealClient
from apps.docuseal.models import SignatureRequest

logger = logging.getLogger(__name__)

MAX_REQUESTS_PER_RUN = 100
MAX_ARCHIVE_ATTEMPTS = 50


def reconcile() -> dict:
    totals = {"checked": 0, "events": 0, "archived": 0, "errors": 0}
    for connection in Connection.objects.filter(provider="docuseal", is_active=True):
        for key, value in reconcile_connection(connection).items():
            totals[key] += value
    return totals


def reconcile_connection(connection) -> dict:
    counts = {"checked": 0, "events": 0, "archived": 0, "errors": 0}
    api = DocusealClient(connection)
    pending = SignatureRequest.objects.filter(connection=connection, status=SignatureRequest.Status.PENDING) \
        .order_by("last_checked_at", "pk")[:MAX_REQUESTS_PER_RUN]
    for request in pending:
        try:
            data = api.get_submission(request.submission_id)
        except ApiError as exc:
            counts["errors"] += 1
            logger.warning("DocuSeal : soumission %s illisible : %s", request.submission_id, exc)
            if exc.status is None or exc.status >= 500:
                break  # DocuSeal is down: try again at the next run
            continue
        apply(request.pk, data)
        counts["checked"] += 1
    try:
        counts["events"] = walk_completed_events(connection, api)
    except ApiError as exc:
        counts["errors"] += 1
        logger.warning("DocuSeal : événements de signature illisibles : %s", exc)
    to_archive = SignatureRequest.objects.filter(
        connection=connection, status=SignatureRequest.Status.COMPLETED,
        archive_state__in=[SignatureRequest.ArchiveState.NOT_YET, SignatureRequest.ArchiveState.FAILED],
        archive_attempts__lt=MAX_ARCHIVE_ATTEMPTS)
    for request in to_archive:
        with transaction.atomic():
            locked = SignatureRequest.objects.select_for_update().select_related("quote", "connection") \
                .get(pk=request.pk)
            counts["archived"] += archive.archive(locked)
    return counts


def apply(request_pk: int, data: dict) -> None:
    with transaction.atomic():
        request = SignatureRequest.objects.select_for_update().select_related("quote", "connection").get(pk=request_pk)
        signatures.apply_submission(request, data)
        if request.status == SignatureRequest.Status.COMPLETED:
            archive.archive(request, documents=data.get("documents"), audit_log_url=data.get("audit_log_url"))
        signatures.changed(request)


def walk_completed_events(connection, api) -> int:
    """Completions newer than the checkpoint (Unix seconds), newest first, `after` to page further back."""
    checkpoint = int(connection.config.get("completed_events_checkpoint") or 0)
    newest = checkpoint
    applied = 0
    after = None
    for _page in range(10):
        listing = api.completed_submission_events(before=checkpoint or None, after=after, limit=100)
        for event in listing.items:
            data = event.get("data") or {}
            request = SignatureRequest.objects.filter(connection=connection, submission_id=data.get("id")).first()
            completed = parse_datetime(event.get("timestamp") or "") if event.get("timestamp") else None
            if completed is not None:
                newest = max(newest, int(completed.timestamp()))
            if request is not None and request.status == SignatureRequest.Status.PENDING:
                apply(request.pk, data)
                applied += 1
        if len(listing.items) < 100 or not listing.next_cursor:
            break
        after = listing.next_cursor
    if newest != checkpoint:
        connection.config = {**connection.config, "completed_events_checkpoint": newest}
        connection.save(update_fields=["config", "updated_at"])
    return applied


def run_reconcile() -> str:
    """The scheduled job's entry point."""
    started = timezone.now()
    totals = reconcile()
    return f"{totals} en {(timezone.now() - started).total_seconds():.1f} s"
