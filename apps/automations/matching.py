"""Matching an incoming Revolut credit to an open invoice (rules in the README, "Rapprochement des virements").

1. Reference: a word of the transfer's reference equals the number of an open invoice (sent or partially paid).
2. Otherwise amount + payer: the open invoices whose balance due equals the amount, in the credit's currency,
   whose client's name appears in the payer's name.
Applied automatically only when exactly one invoice matches, in the same currency, for exactly its balance
due, and no other credit was already matched to it; anything else waits in "À rapprocher" with its reason,
where a user confirms with one click. The invoice row is locked while deciding, so two credits arriving at
once for one invoice are both recorded and only one pays it.
"""

from __future__ import annotations

import re
import unicodedata

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.automations import chains
from apps.automations.models import BankCredit, Chain
from apps.automations.rules import is_enabled
from apps.core.models import TimelineEntry
from apps.hub.models import Invoice, Payment, money

OPEN = (Invoice.Status.SENT, Invoice.Status.PARTIAL)
CREDIT_TYPES = {"transfer", "topup"}
PAYMENT_SOURCE = "revolut"


def normalized(text: str) -> str:
    text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


def payer_name(payload: dict) -> str:
    legs = payload.get("legs") or [{}]
    names = [legs[0].get("description") or "", (payload.get("merchant") or {}).get("name") or "",
             ((legs[0].get("counterparty") or {}).get("name")) or ""]
    return " ".join(n for n in names if n)[:200]


def candidates(credit: BankCredit) -> tuple[list[Invoice], str]:
    words = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9\-_/]*", credit.reference.upper()))
    open_invoices = Invoice.objects.filter(status__in=OPEN).exclude(number="").select_related("company")
    by_reference = [i for i in open_invoices if i.number.upper() in words]
    if by_reference:
        return by_reference, "reference"
    payer = f" {normalized(credit.payer)} "
    by_payer = [i for i in Invoice.objects.filter(status__in=OPEN, currency=credit.currency).select_related("company")
                if i.balance_due == credit.amount and normalized(i.company.name)
                and f" {normalized(i.company.name)} " in payer]
    return by_payer, "amount_payer"


def refusal(credit: BankCredit, invoice: Invoice) -> str | None:
    """Why this credit may not pay this invoice on its own (None: it may)."""
    if invoice.status not in OPEN:
        return _("la facture n'est plus ouverte (%(status)s)") % {"status": invoice.get_status_display()}
    if credit.currency != invoice.currency:
        return _("devise différente (%(credit)s reçu, facture en %(invoice)s)") % {
            "credit": credit.currency, "invoice": invoice.currency}
    if credit.amount > invoice.balance_due:
        return _("montant supérieur au solde dû (%(due)s %(currency)s)") % {
            "due": invoice.balance_due, "currency": invoice.currency}
    if credit.amount < invoice.balance_due:
        return _("paiement partiel (solde dû %(due)s %(currency)s)") % {
            "due": invoice.balance_due, "currency": invoice.currency}
    matched = (BankCredit.Status.MATCHED, BankCredit.Status.CONFIRMED)
    if BankCredit.objects.filter(invoice=invoice, status__in=matched).exclude(pk=credit.pk).exists():
        return _("un autre virement est déjà rapproché de cette facture")
    return None


def consider(transaction_pk: int) -> BankCredit | None:
    """Record a completed incoming credit once and apply it when the rules allow."""
    from apps.revolut.models import RevolutTransaction

    record = RevolutTransaction.objects.filter(pk=transaction_pk).first()
    if (record is None or record.state != "completed" or record.amount is None or record.amount <= 0
            or record.type not in CREDIT_TYPES or len(record.payload.get("legs") or []) > 1):
        return None  # not money coming in from outside (own-account moves have two legs)
    if not is_enabled("bank_credit"):
        return None
    try:
        with transaction.atomic():
            credit = BankCredit.objects.create(transaction=record, amount=money(record.amount),
                                               currency=record.currency, reference=record.reference,
                                               payer=payer_name(record.payload), status=BankCredit.Status.TO_MATCH)
    except IntegrityError:
        return BankCredit.objects.get(transaction=record)  # seen already (webhook replayed, sync overlap)
    found, how = candidates(credit)
    if len(found) != 1:
        credit.reason = (_("plusieurs factures possibles") if found else _("aucune facture ouverte ne correspond"))
        credit.save(update_fields=["reason"])
        credit.candidates.set(found)
        return credit
    credit.candidates.set(found)
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=found[0].pk)
        reason = refusal(credit, invoice)
        if reason:
            credit.reason = reason
            credit.save(update_fields=["reason"])
            return credit
        credit.status, credit.invoice = BankCredit.Status.MATCHED, invoice
        credit.reason = _("référence") if how == "reference" else _("montant et payeur")
        credit.save(update_fields=["status", "invoice", "reason"])
        apply(credit, invoice, cause=_("virement Revolut %(id)s de %(amount)s %(currency)s (rapproché par %(how)s)")
              % {"id": record.external_id, "amount": credit.amount, "currency": credit.currency,
                 "how": credit.reason})
    return credit


def apply(credit: BankCredit, invoice: Invoice, *, cause: str) -> Chain:
    """The invoice is paid: through Invoice Ninja's "Marquer payée" when it lives there (its payment comes back
    to the hub by webhook/sync), otherwise by a hub payment written here. Call with the invoice row locked."""
    from apps.invoiceninja.models import InvoiceLink

    if InvoiceLink.objects.filter(invoice=invoice, connection__is_active=True).exists():
        chain, _created = chains.start("bank_credit", invoice, cause=cause,
                                       context={"credit": credit.pk, "transaction": credit.transaction_id})
        return chain
    Payment.objects.get_or_create(
        source=PAYMENT_SOURCE, external_id=credit.transaction.external_id,
        defaults={"direction": Payment.Direction.INCOMING, "invoice": invoice, "amount": credit.amount,
                  "currency": credit.currency, "date": timezone.localdate()})
    chain, created = chains.start("bank_credit", invoice, cause=cause, status=Chain.Status.SUCCEEDED,
                                  context={"credit": credit.pk, "transaction": credit.transaction_id})
    if created:
        paid = money(sum(p.amount for p in invoice.payments.filter(direction=Payment.Direction.INCOMING)))
        invoice.amount_paid = paid
        invoice.status = Invoice.Status.PAID if paid >= invoice.total else Invoice.Status.PARTIAL
        invoice.save(update_fields=["status", "amount_paid", "updated_at"])
        chains.note(invoice, gettext_noop("Paiement de %(amount)s %(currency)s enregistré ; facture « %(status)s »."),
                    chain, TimelineEntry.Level.SUCCESS,
                    params={"amount": credit.amount, "currency": credit.currency,
                            "status": Invoice.Status(invoice.status).label})
    return chain


def confirm(credit: BankCredit, invoice: Invoice, user) -> str | None:
    """One click in "À rapprocher": returns the French reason when it cannot be applied, else None."""
    with transaction.atomic():
        credit = BankCredit.objects.select_for_update().get(pk=credit.pk)
        if credit.status != BankCredit.Status.TO_MATCH:
            return _("Ce virement a déjà été traité.")
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        reason = refusal(credit, invoice)
        if reason:
            return _("Rapprochement impossible : %(reason)s.") % {"reason": reason}
        credit.status, credit.invoice, credit.decided_by = BankCredit.Status.CONFIRMED, invoice, user
        credit.save(update_fields=["status", "invoice", "decided_by"])
        apply(credit, invoice, cause=_("virement Revolut %(id)s rapproché par %(user)s") % {
            "id": credit.transaction.external_id, "user": user.get_username()})
    return None
