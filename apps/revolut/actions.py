"""« Payer via Revolut » on a supplier bill: confirm, maybe wait for a second approver, then pay once."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core import actions
from apps.core.actions import ActionFailed, ActionOutcome
from apps.core.models import Connection
from apps.core.numbers import format_money
from apps.hub.approval_rule import approval_rule
from apps.hub.models import SupplierBill
from apps.revolut import counterparties, payments
from apps.revolut.client import RevolutClient
from apps.revolut.models import RevolutPayment


def _money(amount, currency) -> str:
    return format_money(amount, currency)


@actions.register
class PayBillViaRevolut(actions.Action):
    key = "revolut.pay_bill"
    label = gettext_lazy("Payer via Revolut")
    model = SupplierBill
    provider = "revolut"
    permission = "core.pay_suppliers"
    approval_permission = "core.approve_payments"
    confirm = gettext_lazy("Confirmez-vous le virement de cette facture fournisseur depuis Revolut ?")
    css_class = "button-pay"

    PAYABLE = (SupplierBill.Status.TO_PAY, SupplierBill.Status.PAYMENT_FAILED, SupplierBill.Status.AWAITING_APPROVAL)

    def applies_to(self, bill) -> bool:
        live = payments.live_payment(bill)
        if live is not None:
            # Only a payment whose answer was lost may be retried: the retry looks it up before anything else.
            return live.state in (RevolutPayment.State.PREPARED, RevolutPayment.State.UNKNOWN)
        return bill.status in self.PAYABLE

    def unavailable_reason(self, bill, user):
        reason = super().unavailable_reason(bill, user)
        if reason:
            return reason
        connection = self.connection()
        if payments.debit_account(connection, bill.currency) is None:
            return _("Aucun compte Revolut actif en %(currency)s (synchronisez les comptes).") % {
                "currency": bill.currency}
        if counterparties.counterparty_for(connection, bill.supplier) is None:
            try:
                counterparties.details_of(bill.supplier)
            except ValidationError as exc:
                return " ".join(exc.messages)
        return None

    def needs_approval(self, bill, user) -> bool:
        return approval_rule(bill.amount, bill.currency).needed

    def confirmation_details(self, bill) -> list[tuple[str, str]]:
        connection = self.connection()
        account = payments.debit_account(connection, bill.currency) if connection else None
        counterparty = counterparties.counterparty_for(connection, bill.supplier) if connection else None
        if counterparty is not None:
            recipient = counterparty.name + (f" — {counterparty.masked_bank_details}"
                                             if counterparty.masked_bank_details else "")
        else:
            try:
                bank_details = counterparties.details_of(bill.supplier).masked()
            except ValidationError as exc:
                bank_details = " ".join(exc.messages)
            recipient = _("%(name)s — %(iban)s (bénéficiaire créé à l'envoi)") % {
                "name": bill.supplier.name, "iban": bank_details}
        details = [
            (_("Montant"), _money(bill.amount, bill.currency)),
            (_("Devise"), bill.currency),
            (_("Compte débité"), _("%(name)s (solde %(balance)s)") % {
                "name": account.name or account.currency, "balance": _money(account.balance, account.currency)}
             if account else _("aucun compte disponible")),
            (_("Bénéficiaire"), recipient),
            (_("Référence"), bill.reference),
        ]
        details.append((_("Approbation"), approval_rule(bill.amount, bill.currency).explanation))
        return details

    def run(self, bill, run) -> ActionOutcome:
        connection = Connection.objects.filter(provider=self.provider, is_active=True).order_by("pk").first()
        if connection is None:
            raise ActionFailed(_("Aucune connexion Revolut active."))
        client = RevolutClient(connection)
        payment = payments.prepare(bill, connection, client, run=run)
        actions.save_progress(run, request_id=payment.request_id)
        payment = payments.send(payment, client)
        external_ids = {"request_id": payment.request_id, "transaction_id": payment.transaction_id}
        if payment.state == RevolutPayment.State.COMPLETED:
            return ActionOutcome(_("Paiement exécuté."), external_ids)
        if payment.state in payments.FAILED_STATES:
            raise ActionFailed(_("Paiement %(state)s par Revolut.") % {"state": payment.get_state_display().lower()})
        return ActionOutcome(_("Paiement envoyé à Revolut (%(state)s) ; la facture sera marquée payée à "
                               "l'exécution.") % {"state": payment.get_state_display().lower()}, external_ids)
