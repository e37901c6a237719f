"""Mirrors of the Revolut business (accounts, counterparties, transactions) and the payments we send.

Mirrors are ExternalRecord rows keyed by (connection, Revolut id), raw payload kept; the typed columns
are what pages and queries need. The emulator's own state lives in sandbox_models (imported below so
Django sees those models as part of this app).
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import ExternalRecord
from apps.core.numbers import format_money

FINAL_STATES = ("completed", "declined", "failed", "reverted")
FAILED_STATES = ("declined", "failed", "reverted")


class RevolutAccount(ExternalRecord):
    name = models.CharField(_("nom"), max_length=200, blank=True)
    currency = models.CharField(_("devise"), max_length=3)
    balance = models.DecimalField(_("solde"), max_digits=18, decimal_places=2, default=Decimal("0"))
    state = models.CharField(_("état"), max_length=12, default="active")

    class Meta(ExternalRecord.Meta):
        verbose_name = _("compte Revolut")
        verbose_name_plural = _("comptes Revolut")
        ordering = ["currency", "name"]

    def __str__(self):
        return f"{self.name or self.currency} ({self.currency})"

    @property
    def is_active(self) -> bool:
        return self.state == "active" and not self.is_deleted

    @property
    def confirmed_at(self):
        """When Revolut last listed this balance, changed or not (the sync engine touches seen_at)."""
        return self.seen_at or self.synced_at


class BalanceSnapshot(models.Model):
    """One balance value as first seen: a row per change, for the history chart."""

    account = models.ForeignKey(RevolutAccount, on_delete=models.CASCADE, related_name="snapshots")
    balance = models.DecimalField(_("solde"), max_digits=18, decimal_places=2)
    recorded_at = models.DateTimeField(_("relevé le"), db_index=True)

    class Meta:
        verbose_name = _("historique de solde")
        verbose_name_plural = _("historique des soldes")
        ordering = ["-recorded_at", "-id"]

    def __str__(self):
        return f"{self.account} : {self.balance} ({self.recorded_at:%Y-%m-%d %H:%M})"


class RevolutCounterparty(ExternalRecord):
    name = models.CharField(_("nom"), max_length=200)
    state = models.CharField(_("état"), max_length=12, default="created")
    company = models.ForeignKey(
        "hub.Company", null=True, blank=True, on_delete=models.SET_NULL, related_name="revolut_counterparties",
        verbose_name=_("société"),
    )
    # The counterparty's bank account to pay (receiver.account_id), when it has one.
    payment_account_id = models.CharField(_("compte bénéficiaire"), max_length=64, blank=True)
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    account_no = models.CharField(_("numéro de compte"), max_length=20, blank=True)
    sort_code = models.CharField(_("sort code"), max_length=6, blank=True)
    routing_number = models.CharField(_("routing number"), max_length=9, blank=True)
    currency = models.CharField(_("devise"), max_length=3, blank=True)

    class Meta(ExternalRecord.Meta):
        verbose_name = _("bénéficiaire Revolut")
        verbose_name_plural = _("bénéficiaires Revolut")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def masked_bank_details(self) -> str:
        if self.iban:
            return f"{self.iban[:4]} •••• {self.iban[-4:]}"
        if self.account_no:
            return f"{self.sort_code or self.routing_number} •••• {self.account_no[-4:]}".strip()
        return ""


class RevolutTransaction(ExternalRecord):
    type = models.CharField(_("type"), max_length=32, blank=True)
    state = models.CharField(_("état"), max_length=12, db_index=True)
    request_id = models.CharField(_("identifiant de requête"), max_length=40, blank=True, db_index=True)
    amount = models.DecimalField(_("montant"), max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("devise"), max_length=3, blank=True)
    account_external_id = models.CharField(_("compte"), max_length=64, blank=True)
    reference = models.CharField(_("référence"), max_length=140, blank=True)
    created_at_remote = models.DateTimeField(_("créée le"), null=True, blank=True, db_index=True)
    completed_at = models.DateTimeField(_("terminée le"), null=True, blank=True)

    class Meta(ExternalRecord.Meta):
        verbose_name = _("transaction Revolut")
        verbose_name_plural = _("transactions Revolut")
        ordering = ["-created_at_remote", "-id"]

    def __str__(self):
        return f"{format_money(self.amount, self.currency)} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


class RevolutPayment(models.Model):
    """One attempt to pay a supplier bill. Its request_id is stored before POST /pay so retries reuse it."""

    class State(models.TextChoices):
        PREPARED = "prepared", _("Préparé (non envoyé)")
        UNKNOWN = "unknown", _("Envoi non confirmé (vérification)")
        CREATED = "created", _("Accepté")
        PENDING = "pending", _("En cours")
        COMPLETED = "completed", _("Exécuté")
        DECLINED = "declined", _("Refusé")
        FAILED = "failed", _("Échec")
        REVERTED = "reverted", _("Annulé (retourné)")

    connection = models.ForeignKey("core.Connection", on_delete=models.PROTECT, related_name="+")
    bill = models.ForeignKey("hub.SupplierBill", on_delete=models.PROTECT, related_name="revolut_payments",
                             verbose_name=_("facture fournisseur"))
    request_id = models.CharField(_("identifiant de requête"), max_length=40, unique=True)
    account_external_id = models.CharField(_("compte débité"), max_length=64)
    counterparty = models.ForeignKey(RevolutCounterparty, on_delete=models.PROTECT, related_name="payments",
                                     verbose_name=_("bénéficiaire"))
    receiver_account_id = models.CharField(max_length=64, blank=True)
    amount = models.DecimalField(_("montant"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("devise"), max_length=3)
    reference = models.CharField(_("référence"), max_length=140)
    state = models.CharField(_("état"), max_length=12, choices=State.choices, default=State.PREPARED)
    transaction_id = models.CharField(_("transaction Revolut"), max_length=64, blank=True, db_index=True)
    reason_code = models.CharField(_("motif"), max_length=100, blank=True)
    # Set just before the first POST /pay: from then on, a missing answer means "look it up", never "send".
    first_sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)
    action_run = models.ForeignKey("core.ActionRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("paiement Revolut")
        verbose_name_plural = _("paiements Revolut")
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one live attempt per bill; a declined/failed/reverted one may be followed by a new one.
            models.UniqueConstraint(
                fields=["bill"], condition=~models.Q(state__in=FAILED_STATES), name="revolut_one_live_payment_per_bill"
            ),
        ]

    def __str__(self):
        return f"{self.bill} — {format_money(self.amount, self.currency)} ({self.get_state_display()})"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


from apps.revolut.sandbox_models import (  # noqa: E402,F401  (emulator state, same app label)
    SandboxAccessToken,
    SandboxAccount,
    SandboxApp,
    SandboxAuthCode,
    SandboxCounterparty,
    SandboxGrant,
    SandboxTransaction,
    SandboxWebhook,
    SandboxWebhookDelivery,
)
