"""Paying a supplier bill through Revolut, safely.

1. `prepare` stores a RevolutPayment with a fresh request_id *before* anything is sent (one live
   payment per bill, enforced by a constraint), so every retry reuses the same request_id.
2. `send` posts /pay once. If the answer is lost (timeout, 5xx) or Revolut says "duplicate request"
   (3020), the transaction is looked up by request_id — never sent a second time blindly.
3. `apply_state` moves the payment, the bill and its timeline through pending → completed / declined /
   failed / reverted, from the /pay answer, webhooks, lookups and the reconciliation sync alike.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from apps.core.actions import ActionFailed
from apps.core.http import (
    ApiError,
    AuthenticationError,
    CircuitOpen,
    ClientError,
    NetworkError,
    RateLimited,
    ServerError,
)
from apps.core.models import Connection, TimelineEntry
from apps.hub.models import Payment, SupplierBill
from apps.revolut.client import RevolutClient, error_code
from apps.revolut.counterparties import ensure_counterparty
from apps.revolut.models import FAILED_STATES, FINAL_STATES, RevolutAccount, RevolutPayment

logger = logging.getLogger(__name__)

PROVIDER = "revolut"
# Revolut deduplicates a request_id for 2 weeks; past 13 days we no longer re-send an unconfirmed payment.
IDEMPOTENCY_WINDOW = timedelta(days=13)
LOOKUP_WINDOW = timedelta(days=14)
Level = TimelineEntry.Level


# What will be paid ------------------------------------------------------------------------------------------
def debit_account(connection: Connection, currency: str) -> RevolutAccount | None:
    """The account to debit: the one configured for the currency, else the active one with the most money."""
    accounts = RevolutAccount.objects.filter(connection=connection, currency=currency, state="active",
                                             is_deleted=False)
    configured = (connection.config.get("payment_accounts") or {}).get(currency)
    if configured:
        chosen = accounts.filter(external_id=configured).first()
        if chosen:
            return chosen
    return accounts.order_by("-balance", "pk").first()


# Preparing and sending --------------------------------------------------------------------------------------
def live_payment(bill) -> RevolutPayment | None:
    return RevolutPayment.objects.filter(bill=bill).exclude(state__in=FAILED_STATES).order_by("-pk").first()


def prepare(bill: SupplierBill, connection: Connection, client: RevolutClient, *, run=None) -> RevolutPayment:
    """The bill's live payment, or a new one whose request_id is committed before any call to /pay."""
    payment = live_payment(bill)
    if payment is not None:
        return payment
    account = debit_account(connection, bill.currency)
    if account is None:
        raise ActionFailed(_("Aucun compte Revolut actif en %(currency)s.") % {"currency": bill.currency})
    counterparty = ensure_counterparty(connection, bill.supplier, client)
    try:
        with transaction.atomic():
            payment = RevolutPayment.objects.create(
                connection=connection,
                bill=bill,
                request_id=str(uuid.uuid4()),
                account_external_id=account.external_id,
                counterparty=counterparty,
                receiver_account_id=counterparty.payment_account_id,
                amount=bill.amount,
                currency=bill.currency,
                reference=bill.reference[:140],
                action_run=run,
                requested_by=run.user if run else None,
            )
            SupplierBill.objects.filter(pk=bill.pk).update(status=SupplierBill.Status.PAYMENT_PENDING)
    except IntegrityError:
        # Another worker prepared it first: use theirs.
        return live_payment(bill)
    TimelineEntry.record(bill, gettext_noop("Paiement Revolut préparé (requête %(id)s)."),
                         params={"id": payment.request_id}, provider=PROVIDER,
                         external_ids={"request_id": payment.request_id})
    return payment


def send(payment: RevolutPayment, client: RevolutClient) -> RevolutPayment:
    """POST /pay at most once per request_id unless a lookup proves nothing reached Revolut."""
    payment.refresh_from_db()
    if payment.transaction_id or payment.state in FINAL_STATES:
        return payment
    if payment.first_sent_at:
        # An earlier attempt may have reached Revolut: ask before doing anything else.
        if lookup(payment, client):
            return payment
        if timezone.now() - payment.first_sent_at > IDEMPOTENCY_WINDOW:
            raise ActionFailed(_("Paiement non confirmé depuis plus de 13 jours : vérifiez dans Revolut avant "
                                 "tout nouvel essai (requête %(id)s).") % {"id": payment.request_id})
        # Not found: re-sending the SAME request_id is safe, Revolut deduplicates it for 2 weeks.
    previously_sent = payment.first_sent_at is not None
    if not previously_sent:
        RevolutPayment.objects.filter(pk=payment.pk).update(first_sent_at=timezone.now())
        payment.first_sent_at = timezone.now()
    try:
        result = client.pay(
            request_id=payment.request_id,
            account_id=payment.account_external_id,
            counterparty_id=payment.counterparty.external_id,
            receiver_account_id=payment.receiver_account_id,
            amount=payment.amount,
            currency=payment.currency,
            reference=payment.reference,
        )
    except (NetworkError, ServerError) as exc:
        if not exc.maybe_sent and not previously_sent:
            _forget_send(payment)
            raise ActionFailed(_("Revolut injoignable, rien n'a été envoyé : %(error)s") % {"error": exc}) from None
        return _after_lost_answer(payment, client, str(exc))
    except (RateLimited, AuthenticationError, CircuitOpen) as exc:
        if not previously_sent:
            _forget_send(payment)
        raise ActionFailed(_("Paiement non envoyé : %(error)s") % {"error": exc}) from None
    except ClientError as exc:
        if error_code(exc) == 3020:
            # "Duplicate request": an earlier attempt was accepted. Treat as sent and find it.
            return _after_lost_answer(payment, client, str(exc))
        apply_state(payment, "failed", reason_code=str(error_code(exc) or exc.status),
                    message=_("Revolut a refusé le paiement : %(error)s") % {"error": exc})
        raise ActionFailed(_("Revolut a refusé le paiement : %(error)s") % {"error": exc}) from None
    apply_state(payment, result.get("state", "pending"), transaction_id=result.get("id", ""),
                completed_at=result.get("completed_at"))
    payment.refresh_from_db()
    return payment


def _forget_send(payment):
    RevolutPayment.objects.filter(pk=payment.pk).update(first_sent_at=None)
    payment.first_sent_at = None


def _after_lost_answer(payment, client, error: str) -> RevolutPayment:
    if lookup(payment, client):
        return payment
    RevolutPayment.objects.filter(pk=payment.pk, state=RevolutPayment.State.PREPARED).update(
        state=RevolutPayment.State.UNKNOWN
    )
    TimelineEntry.record(
        payment.bill,
        gettext_noop("Réponse de Revolut non reçue (%(error)s) : le paiement sera vérifié par son identifiant, "
                     "jamais renvoyé en double."), params={"error": error},
        provider=PROVIDER, level=Level.WARNING, external_ids={"request_id": payment.request_id},
    )
    raise ActionFailed(_("Pas de réponse de Revolut : le paiement (requête %(id)s) sera vérifié automatiquement.")
                       % {"id": payment.request_id})


def lookup(payment: RevolutPayment, client: RevolutClient) -> bool:
    """Find the transaction created by this request_id (GET /transactions?request_id=&from=); True if found."""
    from apps.revolut.sync import TransactionsResource, store

    start = payment.created_at - timedelta(days=1)
    end = min(start + LOOKUP_WINDOW, timezone.now() + timedelta(minutes=1))
    try:
        found = [item for item in client.list_transactions(from_=start, to=end, request_id=payment.request_id)
                 if item.get("request_id") == payment.request_id]
    except ApiError as exc:
        logger.warning("Recherche du paiement %s impossible : %s", payment.request_id, exc)
        return False
    if not found:
        return False
    with transaction.atomic():
        store(payment.connection, TransactionsResource, found[:1])
    payment.refresh_from_db()
    return bool(payment.transaction_id)


# States -----------------------------------------------------------------------------------------------------
STATE_MESSAGES = {
    "created": (gettext_noop("Paiement Revolut accepté, en attente d'exécution."), Level.INFO),
    "pending": (gettext_noop("Paiement Revolut en cours de traitement."), Level.INFO),
    "completed": (gettext_noop("Paiement Revolut exécuté : facture payée."), Level.SUCCESS),
    "declined": (gettext_noop("Paiement Revolut refusé par la banque."), Level.ERROR),
    "failed": (gettext_noop("Paiement Revolut en échec."), Level.ERROR),
    "reverted": (gettext_noop("Paiement Revolut retourné : les fonds sont revenus sur le compte."), Level.WARNING),
}


def apply_transaction(record, *, webhook_event=None) -> None:
    """Reflect a mirrored transaction into the payment that created it, if it is one of ours."""
    payment = None
    if record.external_id:
        payment = RevolutPayment.objects.filter(connection=record.connection, transaction_id=record.external_id).first()
    if payment is None and record.request_id:
        payment = RevolutPayment.objects.filter(connection=record.connection, request_id=record.request_id).first()
    if payment is None or not record.state:
        return
    apply_state(payment, record.state, transaction_id=record.external_id,
                reason_code=(record.payload or {}).get("reason_code", ""),
                completed_at=(record.payload or {}).get("completed_at"), webhook_event=webhook_event)


def apply_state(payment: RevolutPayment, state: str, *, transaction_id: str = "", reason_code: str = "",
                completed_at=None, webhook_event=None, message: str | None = None) -> None:
    """Idempotent: the same state twice writes nothing; a late non-final state never undoes a final one."""
    if state not in STATE_MESSAGES:
        return
    with transaction.atomic():
        payment = RevolutPayment.objects.select_for_update().select_related("bill").get(pk=payment.pk)
        changed_fields = []
        if transaction_id and payment.transaction_id != transaction_id:
            payment.transaction_id = transaction_id
            changed_fields.append("transaction_id")
        if payment.state == state or (payment.state in FINAL_STATES and state not in FINAL_STATES):
            if changed_fields:
                payment.save(update_fields=changed_fields + ["updated_at"])
            return
        previous = payment.state
        payment.state = state
        payment.reason_code = reason_code or payment.reason_code
        payment.save(update_fields=changed_fields + ["state", "reason_code", "updated_at"])

        bill = SupplierBill.objects.select_for_update().get(pk=payment.bill_id)
        text, level = STATE_MESSAGES[state]
        params = {}  # the state's sentence is read in each reader's language; the bank's own message as it came
        if message:
            text, params = message, None
        elif reason_code and state in FAILED_STATES:
            text, params = "%(state)s (%(code)s)", {"state": gettext_lazy(text), "code": reason_code}
        TimelineEntry.record(bill, text, params=params, provider=PROVIDER, level=level, webhook_event=webhook_event,
                             external_ids={"request_id": payment.request_id, "transaction_id": payment.transaction_id,
                                           "state": state})
        if state == "completed":
            paid_at = parse_datetime(completed_at) if isinstance(completed_at, str) else None
            bill.status = SupplierBill.Status.PAID
            bill.paid_at = paid_at or timezone.now()
            bill.save(update_fields=["status", "paid_at", "updated_at"])
            Payment.objects.get_or_create(
                source=PROVIDER, external_id=payment.transaction_id or payment.request_id,
                defaults={"direction": Payment.Direction.OUTGOING, "supplier_bill": bill, "amount": payment.amount,
                          "currency": payment.currency, "date": timezone.localdate(bill.paid_at)},
            )
        elif state in FAILED_STATES:
            if previous == "completed":
                Payment.objects.filter(source=PROVIDER, supplier_bill=bill,
                                       external_id__in=[payment.transaction_id, payment.request_id]).delete()
                bill.paid_at = None
            bill.status = SupplierBill.Status.PAYMENT_FAILED
            bill.save(update_fields=["status", "paid_at", "updated_at"])
        elif bill.status != SupplierBill.Status.PAID:
            bill.status = SupplierBill.Status.PAYMENT_PENDING
            bill.save(update_fields=["status", "updated_at"])


def unconfirmed_payments():
    """Payments whose fate Revolut has not told us yet: the reconciliation job looks them up."""
    return RevolutPayment.objects.filter(
        state__in=[RevolutPayment.State.UNKNOWN, RevolutPayment.State.CREATED, RevolutPayment.State.PENDING]
    ).select_related("connection", "bill", "counterparty")


# Bill status while the click waits for its second approver -------------------------------------------------
def on_action_run_changed(sender, run, **kwargs) -> None:
    from apps.revolut.actions import PayBillViaRevolut

    if run.action != PayBillViaRevolut.key:
        return
    bill = SupplierBill.objects.filter(pk=run.object_id).first()
    if bill is None:
        return
    if run.status == run.Status.PENDING_APPROVAL and bill.status in (
        SupplierBill.Status.TO_PAY, SupplierBill.Status.PAYMENT_FAILED
    ):
        SupplierBill.objects.filter(pk=bill.pk).update(status=SupplierBill.Status.AWAITING_APPROVAL)
        TimelineEntry.record(bill, gettext_noop("Paiement demandé par %(user)s : en attente d'un second approbateur."),
                             params={"user": run.user.get_username() if run.user else "?"}, provider=PROVIDER)
    elif run.status in (run.Status.FAILED, run.Status.REFUSED) and live_payment(bill) is None and bill.status in (
        SupplierBill.Status.AWAITING_APPROVAL, SupplierBill.Status.PAYMENT_PENDING
    ):
        tried = RevolutPayment.objects.filter(bill=bill).exists()
        SupplierBill.objects.filter(pk=bill.pk).update(
            status=SupplierBill.Status.PAYMENT_FAILED if tried else SupplierBill.Status.TO_PAY
        )
