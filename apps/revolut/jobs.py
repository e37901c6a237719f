"""Background jobs of the Revolut app (RQ), some run by the scheduler (see apps.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.core.http import ApiError
from apps.core.models import Connection
from apps.core.sync import start_sync
from apps.revolut import balances, failed_events, payments, webhook_registration
from apps.revolut.client import RevolutClient
from apps.revolut.models import RevolutTransaction

logger = logging.getLogger(__name__)

# A non-final transaction older than this is read again by id, in case its state-change webhook was lost.
RECHECK_AFTER = timedelta(minutes=2)


def connected():
    """Revolut connections that can call the API now (consented, not waiting for a reconnection)."""
    return Connection.objects.filter(provider="revolut", is_active=True, token_status=Connection.TokenStatus.OK)


def refresh_balances() -> int:
    """Every 60 s: read the balances of every connected business and push them to the live page."""
    refreshed = 0
    for connection in connected():
        try:
            refreshed += balances.refresh(connection)
        except ApiError as exc:
            # The page flags the balances as old after 3 minutes; the next run tries again.
            logger.warning("Soldes Revolut non rafraîchis (%s) : %s", connection.slug, exc)
        webhook_registration.forget_expired_secrets(connection)
    return refreshed


def refresh_connection_balances(connection_id: int) -> int:
    connection = connected().filter(pk=connection_id).first()
    return balances.refresh(connection) if connection else 0


def fetch_transaction(connection_id: int, transaction_id: str) -> None:
    from apps.revolut.sync import TransactionsResource, store

    connection = connected().filter(pk=connection_id).first()
    if connection is None:
        return
    payload = RevolutClient(connection).get_transaction(transaction_id)
    with transaction.atomic():
        store(connection, TransactionsResource, [payload])


def reconcile_transactions() -> dict:
    """Every few minutes: webhooks are hints, this is the truth.

    Stores the webhooks Revolut gave up on (failed-events) so their handlers run, queues an incremental
    transaction sync (re-reads the last days), re-reads non-final transactions by id, and looks up
    payments whose /pay answer was lost.
    """
    summary = {"recovered": 0, "syncs": 0, "rechecked": 0, "looked_up": 0}
    for connection in connected():
        client = RevolutClient(connection)
        try:
            summary["recovered"] += failed_events.recover(connection, client)
        except ApiError as exc:
            logger.warning("Webhooks Revolut en échec non relus (%s) : %s", connection.slug, exc)
        _, created = start_sync(connection, "transactions")
        summary["syncs"] += created
        stale = RevolutTransaction.objects.filter(
            connection=connection, state__in=["created", "pending"],
            seen_at__lt=timezone.now() - RECHECK_AFTER,
        ).order_by("seen_at")[:20]
        for record in stale:
            try:
                fetch_transaction(connection.pk, record.external_id)
                summary["rechecked"] += 1
            except ApiError as exc:
                logger.warning("Transaction %s non relue : %s", record.external_id, exc)
        for payment in payments.unconfirmed_payments().filter(connection=connection, transaction_id=""):
            summary["looked_up"] += payments.lookup(payment, client)
    return summary
