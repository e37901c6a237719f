"""One function per Revolut webhook event type. Each is idempotent (see apps/core/webhooks/processing.py).

Both transaction events update the mirror and the supplier payment it belongs to, then ask for a
balance refresh once the transaction commits, so the live balances page moves at once. The refresh is
coalesced per connection (apps/core/coalesce.py): a burst of transactions (a month-end batch) costs a
couple of immediate reads and then one per window, not one Revolut call per event against the
60 requests/minute budget.
"""

from __future__ import annotations

import json

from apps.core import coalesce, jobs
from apps.core.models import WebhookEvent
from apps.revolut import payments
from apps.revolut.models import RevolutPayment, RevolutTransaction


def _data(event: WebhookEvent) -> dict:
    payload = json.loads(bytes(event.body))
    data = payload.get("data")
    if not isinstance(data, dict) or not data.get("id"):
        raise ValueError("Événement Revolut sans data.id")
    return data


# Two immediate refreshes per window let a lone payment and its completion show at once; more events in the
# same window share one trailing refresh at its end: at most 12 webhook-driven reads a minute per business.
BALANCE_REFRESH_WINDOW_SECONDS = 10
BALANCE_REFRESH_BURST = 2


def _refresh_balances_after_commit(event: WebhookEvent) -> None:
    from apps.revolut.jobs import refresh_connection_balances

    coalesce.request_on_commit(f"revolut.balances.{event.connection_id}", refresh_connection_balances,
                               event.connection_id, window=BALANCE_REFRESH_WINDOW_SECONDS,
                               burst=BALANCE_REFRESH_BURST, queue="default")


def transaction_created(event: WebhookEvent) -> None:
    """`data` is a full transaction object (NOTES §4.2)."""
    from apps.revolut.sync import TransactionsResource, store

    store(event.connection, TransactionsResource, [_data(event)], webhook_event=event)
    _refresh_balances_after_commit(event)


def transaction_state_changed(event: WebhookEvent) -> None:
    """`data` = {id, request_id, old_state, new_state}: no full transaction, so patch what we hold."""
    from apps.revolut.jobs import fetch_transaction

    data = _data(event)
    new_state = data.get("new_state") or ""
    record = RevolutTransaction.objects.filter(connection=event.connection, external_id=data["id"]).first()
    if record is not None and record.state != new_state:
        record.payload = {**record.payload, "state": new_state}
        record.content_hash = RevolutTransaction.hash_payload(record.payload)
        record.state = new_state
        record.save(update_fields=["payload", "content_hash", "state"])
    payment = RevolutPayment.objects.filter(connection=event.connection, transaction_id=data["id"]).first()
    if payment is None and data.get("request_id"):
        payment = RevolutPayment.objects.filter(connection=event.connection, request_id=data["request_id"]).first()
    if payment is not None:
        payments.apply_state(payment, new_state, transaction_id=data["id"], webhook_event=event)
    if record is None:
        # Not mirrored yet (its TransactionCreated was lost or is late): read it in full.
        jobs.enqueue_on_commit(fetch_transaction, event.connection_id, data["id"], queue="default")
    _refresh_balances_after_commit(event)
