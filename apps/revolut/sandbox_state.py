"""The emulated Revolut business: what its API views read and change, and the webhooks it sends.

Kept apart from sandbox.py (HTTP) so the demo seed and tests can set the bank up directly. External
payments start `pending` and complete by themselves after REVOLUT_SANDBOX_COMPLETION_SECONDS (None:
only the simulation endpoint or the sandbox page moves them); balances change on completion.
Webhooks are signed like Revolut's and posted from a background thread once the change is committed
(REVOLUT_SANDBOX_BACKGROUND_DELIVERY=False posts them synchronously, for tests). A delivery answered
with a non-2xx or not at all is retried 3 more times, REVOLUT_SANDBOX_RETRY_SECONDS apart (600, as
Revolut), then listed by GET /api/2.0/webhooks/{id}/failed-events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import requests
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.revolut.bank_details import normalize_iban
from apps.revolut.sandbox_models import (
    SandboxAccount,
    SandboxApp,
    SandboxCounterparty,
    SandboxTransaction,
    SandboxWebhook,
    SandboxWebhookDelivery,
)

logger = logging.getLogger(__name__)

FINAL_STATES = ("completed", "declined", "failed", "reverted")
ACTION_STATES = {"complete": "completed", "revert": "reverted", "decline": "declined", "fail": "failed"}
TEST_REVTAG_USERS = {f"john{n}pvki": f"Test User {n}" for n in range(1, 10)}
# Webhooks v2: 3 more tries after the first (NOTES §4.3), then listed by failed-events for 21 days.
MAX_RETRIES = 3
FAILED_EVENTS_KEPT = timedelta(days=21)
# While one sender posts a delivery, nobody else may (a retry timer and an API request could meet).
IN_FLIGHT_LEASE = timedelta(seconds=60)


def new_token(prefix: str = "oa_sand_") -> str:
    return prefix + secrets.token_urlsafe(32)


def iso(moment) -> str | None:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z") if moment else None


def completion_delay() -> float | None:
    return getattr(settings, "REVOLUT_SANDBOX_COMPLETION_SECONDS", 15)


# Setup (demo seed, tests) ------------------------------------------------------------------------------------
def register_app(certificate_pem: str, redirect_uri: str, *, client_id: str | None = None) -> SandboxApp:
    """What a person does in Revolut's Business API settings: upload a certificate, get a ClientID."""
    app = SandboxApp.objects.filter(certificate_pem=certificate_pem).first()
    if app is None:
        return SandboxApp.objects.create(
            client_id=client_id or secrets.token_urlsafe(32), certificate_pem=certificate_pem,
            redirect_uri=redirect_uri,
        )
    if app.redirect_uri != redirect_uri:
        app.redirect_uri = redirect_uri
        app.save(update_fields=["redirect_uri"])
    return app


def ensure_account(name: str, currency: str, balance: Decimal) -> SandboxAccount:
    account, _ = SandboxAccount.objects.get_or_create(name=name, defaults={"currency": currency, "balance": balance})
    return account


def bank_account(iban: str, bic: str, currency: str, name: str) -> dict:
    iban = normalize_iban(iban)
    account = {"id": str(uuid.uuid4()), "name": name, "bank_country": iban[:2], "currency": currency, "type": "external",
               "iban": iban}
    if bic:
        account["bic"] = bic
    return account


def ensure_bank_counterparty(name, iban, bic, currency, country) -> SandboxCounterparty:
    existing = SandboxCounterparty.objects.filter(name=name).first()
    if existing:
        return existing
    return SandboxCounterparty.objects.create(
        name=name, country=country or normalize_iban(iban)[:2], created_at=timezone.now(),
        accounts=[bank_account(iban, bic, currency or "EUR", name)],
    )


# Representations ----------------------------------------------------------------------------------------------
def account_payload(account: SandboxAccount) -> dict:
    return {"id": str(account.id), "name": account.name, "balance": float(account.balance),
            "currency": account.currency, "state": account.state, "public": account.public,
            "created_at": iso(account.created_at), "updated_at": iso(account.updated_at)}


def counterparty_payload(counterparty: SandboxCounterparty) -> dict:
    payload = {"id": str(counterparty.id), "name": counterparty.name, "state": counterparty.state,
               "created_at": iso(counterparty.created_at), "updated_at": iso(counterparty.updated_at),
               "accounts": counterparty.accounts}
    if counterparty.profile_type:
        payload["profile_type"] = counterparty.profile_type
    if counterparty.revtag:
        payload["revtag"] = counterparty.revtag
    if counterparty.country:
        payload["country"] = counterparty.country
    return payload


def transaction_payload(tx: SandboxTransaction) -> dict:
    leg = {"leg_id": str(tx.leg_id), "amount": float(tx.amount), "fee": 0.0, "currency": tx.currency,
           "account_id": str(tx.account_id), "description": tx.reference or tx.type}
    if tx.counterparty_id:
        account_type = next((a.get("type") for a in tx.counterparty.accounts if a.get("id") == tx.receiver_account_id),
                            "external")
        leg["counterparty"] = {"id": str(tx.counterparty_id), "account_type": account_type}
        if tx.receiver_account_id:
            leg["counterparty"]["account_id"] = tx.receiver_account_id
    if tx.balance_after is not None:
        leg["balance"] = float(tx.balance_after)
    payload = {"id": str(tx.id), "type": tx.type, "state": tx.state, "created_at": iso(tx.created_at),
               "updated_at": iso(tx.updated_at), "legs": [leg]}
    if tx.request_id:
        payload["request_id"] = tx.request_id
    if tx.reference:
        payload["reference"] = tx.reference
    if tx.completed_at:
        payload["completed_at"] = iso(tx.completed_at)
    if tx.reason_code:
        payload["reason_code"] = tx.reason_code
    return payload


# Money movements ----------------------------------------------------------------------------------------------
def create_payment(*, account: SandboxAccount, counterparty: SandboxCounterparty, receiver_account: dict,
                   amount: Decimal, currency: str, reference: str, request_id: str) -> SandboxTransaction:
    now = timezone.now()
    with transaction.atomic():
        account = SandboxAccount.objects.select_for_update().get(pk=account.pk)
        tx = SandboxTransaction(
            type="transfer", request_id=request_id, account=account, counterparty=counterparty,
            receiver_account_id=receiver_account.get("id", ""), amount=-amount, currency=currency,
            reference=reference, created_at=now, updated_at=now,
        )
        if amount > account.balance:
            tx.state, tx.reason_code = "declined", "insufficient_balance"
        elif receiver_account.get("type") == "revolut":
            # Revolut to Revolut: executed at once, pending skipped (NOTES §3.3).
            tx.state, tx.completed_at = "completed", now
            account.balance -= amount
            account.save(update_fields=["balance", "updated_at"])
            tx.balance_after = account.balance
        else:
            tx.state = "pending"
            delay = completion_delay()
            tx.complete_after = now + timedelta(seconds=delay) if delay is not None else None
        tx.save()
        announce("TransactionCreated", transaction_payload(tx))
        if tx.complete_after is not None:
            transaction.on_commit(lambda: _complete_later(delay))
    return tx


def topup(*, account: SandboxAccount, amount: Decimal, currency: str, reference: str = "",
          state: str = "completed") -> SandboxTransaction:
    now = timezone.now()
    with transaction.atomic():
        account = SandboxAccount.objects.select_for_update().get(pk=account.pk)
        tx = SandboxTransaction(type="topup", state=state, account=account, amount=amount, currency=currency,
                                reference=reference or "Top-up", created_at=now, updated_at=now)
        if state == "completed":
            account.balance += amount
            account.save(update_fields=["balance", "updated_at"])
            tx.balance_after, tx.completed_at = account.balance, now
        tx.save()
        announce("TransactionCreated", transaction_payload(tx))
    return tx


class TransitionRefused(Exception):
    pass


def move(tx: SandboxTransaction, new_state: str) -> SandboxTransaction:
    """complete / revert / decline / fail a transaction; the account balance follows."""
    with transaction.atomic():
        tx = SandboxTransaction.objects.select_for_update(of=("self",)).select_related("counterparty").get(pk=tx.pk)
        old_state = tx.state
        if old_state == new_state:
            return tx
        allowed = new_state == "reverted" and old_state == "completed" or old_state not in FINAL_STATES
        if not allowed:
            raise TransitionRefused(f"Transaction already {old_state}")
        account = SandboxAccount.objects.select_for_update().get(pk=tx.account_id)
        now = timezone.now()
        if new_state == "completed":
            account.balance += tx.amount
            tx.completed_at = now
        elif old_state == "completed":
            account.balance -= tx.amount
        if new_state == "completed" or old_state == "completed":
            account.save(update_fields=["balance", "updated_at"])
            tx.balance_after = account.balance
        if new_state in ("declined", "failed") and not tx.reason_code:
            tx.reason_code = "sandbox_" + new_state
        tx.state, tx.updated_at, tx.complete_after = new_state, now, None
        tx.save()
        announce("TransactionStateChanged", {"id": str(tx.id), "request_id": tx.request_id,
                                             "old_state": old_state, "new_state": new_state})
    return tx


def advance_due_transactions() -> int:
    """Complete the pending payments whose delay is over (called on every API request and by timers)."""
    moved = 0
    for tx in SandboxTransaction.objects.filter(state="pending", complete_after__lte=timezone.now()):
        try:
            move(tx, "completed")
            moved += 1
        except TransitionRefused:
            continue
    return moved


def _complete_later(delay: float) -> None:
    def run():
        try:
            advance_due_transactions()
        except Exception:  # noqa: BLE001 - a timer thread has nobody to report to but the log
            logger.exception("Sandbox Revolut : complétion différée en échec")
        finally:
            close_old_connections()

    timer = threading.Timer(delay + 0.5, run)
    timer.daemon = True
    timer.start()


# Webhooks -------------------------------------------------------------------------------------------------------
def active_secrets(hook: SandboxWebhook) -> list[str]:
    now = timezone.now()
    return [entry["secret"] for entry in hook.signing_secrets
            if not entry.get("expires_at") or parse_datetime(entry["expires_at"]) > now]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), f"v1.{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def announce(event_type: str, data: dict) -> None:
    """Record one delivery per subscribed webhook; the first attempt goes out once the change commits."""
    body = json.dumps({"event": event_type, "timestamp": iso(timezone.now()), "data": data}, separators=(",", ":"))
    now = timezone.now()
    ids = [
        SandboxWebhookDelivery.objects.create(webhook=hook, webhook_url=hook.url, body=body, created_at=now,
                                              next_attempt_at=now).pk
        for hook in SandboxWebhook.objects.all() if event_type in (hook.events or [])
    ]
    if ids:
        transaction.on_commit(lambda: _in_background_or_now(deliver, ids))


def retry_delay() -> float:
    """Revolut retries a failed delivery 10 minutes later (NOTES §4.3); tests shorten it."""
    return float(getattr(settings, "REVOLUT_SANDBOX_RETRY_SECONDS", 600))


def deliver(ids) -> None:
    """Attempt these deliveries now. Without a retry delay, retry at once until delivered or given up;
    otherwise a timer (and every API request, should the process restart) sends the due retries."""
    still_pending = False
    for delivery_id in ids:
        state = attempt(delivery_id)
        while state == SandboxWebhookDelivery.State.PENDING and retry_delay() <= 0:
            state = attempt(delivery_id)
        still_pending |= state == SandboxWebhookDelivery.State.PENDING
    if still_pending and getattr(settings, "REVOLUT_SANDBOX_BACKGROUND_DELIVERY", True):
        _run_later(retry_delay(), deliver_due)


def deliver_due() -> int:
    due = list(SandboxWebhookDelivery.objects.filter(
        state=SandboxWebhookDelivery.State.PENDING, next_attempt_at__lte=timezone.now()).values_list("pk", flat=True))
    if due:
        deliver(due)
    return len(due)


def deliver_due_soon() -> None:
    """Called on every API request: retries whose time has come go out (in the background unless tests say not)."""
    if SandboxWebhookDelivery.objects.filter(state=SandboxWebhookDelivery.State.PENDING,
                                             next_attempt_at__lte=timezone.now()).exists():
        _in_background_or_now(deliver_due)


def attempt(delivery_id) -> str | None:
    """One POST of one delivery, if it is due and nobody else is sending it; its state afterwards."""
    now = timezone.now()
    claimed = SandboxWebhookDelivery.objects.filter(
        pk=delivery_id, state=SandboxWebhookDelivery.State.PENDING, next_attempt_at__lte=now,
    ).update(next_attempt_at=now + IN_FLIGHT_LEASE)
    if not claimed:
        return None
    delivery = SandboxWebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
    delivered = _post(delivery.webhook_url, active_secrets(delivery.webhook), delivery.body.encode())
    delivery.attempts += 1
    delivery.last_sent_date = timezone.now()
    if delivered:
        delivery.state, delivery.next_attempt_at = SandboxWebhookDelivery.State.DELIVERED, None
    elif delivery.attempts > MAX_RETRIES:
        delivery.state, delivery.next_attempt_at = SandboxWebhookDelivery.State.FAILED, None
        logger.warning("Sandbox Revolut : webhook %s abandonné après %s essais (listé par failed-events)",
                       delivery.webhook_url, delivery.attempts)
    else:
        delivery.next_attempt_at = delivery.last_sent_date + timedelta(seconds=retry_delay())
    delivery.save(update_fields=["state", "attempts", "last_sent_date", "next_attempt_at", "updated_at"])
    return delivery.state


def _post(url: str, hook_secrets: list[str], body: bytes) -> bool:
    """Signed like Revolut, at send time (a retry carries a fresh timestamp). Only a 2xx counts as delivered."""
    timestamp = str(int(time.time() * 1000))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Revolut-Sandbox-Emulator",
        "Revolut-Request-Timestamp": timestamp,
        "Revolut-Signature": ",".join(sign(secret, timestamp, body) for secret in hook_secrets),
    }
    try:
        response = requests.post(url, data=body, headers=headers, timeout=10, allow_redirects=False)
    except requests.RequestException as exc:
        logger.warning("Sandbox Revolut : webhook %s non délivré : %s", url, exc)
        return False
    if not 200 <= response.status_code < 300:
        logger.warning("Sandbox Revolut : webhook %s refusé (%s)", url, response.status_code)
        return False
    return True


def failed_event_payload(delivery: SandboxWebhookDelivery) -> dict:
    """An item of GET /webhooks/{id}/failed-events (business.yaml `WebhookEvent`)."""
    return {"id": str(delivery.id), "created_at": iso(delivery.created_at), "updated_at": iso(delivery.updated_at),
            "webhook_id": str(delivery.webhook_id), "webhook_url": delivery.webhook_url,
            "payload": json.loads(delivery.body), "last_sent_date": iso(delivery.last_sent_date)}


def _in_background_or_now(function, *args) -> None:
    if not getattr(settings, "REVOLUT_SANDBOX_BACKGROUND_DELIVERY", True):
        function(*args)
        return
    threading.Thread(target=_closing_connections(function), args=args, daemon=True).start()


def _run_later(delay: float, function) -> None:
    timer = threading.Timer(delay + 0.5, _closing_connections(function))
    timer.daemon = True
    timer.start()


def _closing_connections(function):
    def run(*args):
        try:
            function(*args)
        except Exception:  # noqa: BLE001 - a background thread has nobody to report to but the log
            logger.exception("Sandbox Revolut : envoi de webhook en échec")
        finally:
            close_old_connections()

    return run
