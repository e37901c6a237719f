"""What the console keeps about Invoice Ninja: raw mirrors of its objects and links to hub records.

Mirrors (`*Mirror`) hold the vendor's JSON as received, keyed by (connection, hashed id). Links
(`*Link`) tie one hub record to one Invoice Ninja object and carry the sync state used by the
conflict rule (see `InvoiceNinjaLink.has_local_changes`).
"""

import json
from decimal import Decimal

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import ExternalRecord
from apps.hub.models import Company, Invoice, Quote
from apps.invoiceninja.sandbox_state import SandboxAccount, SandboxRecord  # noqa: F401  (sandbox tables)


class VendorJSONEncoder(json.JSONEncoder):
    """Stores the vendor's amounts as JSON numbers again (they were parsed as Decimal, see client.py).

    NaN and infinities (`1e400` overflows a float) are refused with a ValueError — a permanent error for the
    inbox — rather than written as tokens the database's JSON check refuses.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "allow_nan": False})

    def default(self, o):
        if isinstance(o, Decimal):
            return float(o)
        return super().default(o)


class Mirror(ExternalRecord):
    payload = models.JSONField(_("données brutes"), default=dict, encoder=VendorJSONEncoder)

    class Meta(ExternalRecord.Meta):
        abstract = True

    @property
    def is_archived(self) -> bool:
        return bool(self.payload.get("archived_at")) and not self.is_deleted


class ClientMirror(Mirror):
    class Meta(Mirror.Meta):
        verbose_name = _("client Invoice Ninja")
        verbose_name_plural = _("clients Invoice Ninja")


class QuoteMirror(Mirror):
    # The invoice a converted quote became, copied out of the payload so an imported invoice finds its quote
    # through an index instead of a scan of every quote's JSON.
    invoice_id = models.CharField(_("facture Invoice Ninja"), max_length=64, blank=True, db_index=True)

    class Meta(Mirror.Meta):
        verbose_name = _("devis Invoice Ninja")
        verbose_name_plural = _("devis Invoice Ninja")


class InvoiceMirror(Mirror):
    class Meta(Mirror.Meta):
        verbose_name = _("facture Invoice Ninja")
        verbose_name_plural = _("factures Invoice Ninja")


class PaymentMirror(Mirror):
    class Meta(Mirror.Meta):
        verbose_name = _("paiement Invoice Ninja")
        verbose_name_plural = _("paiements Invoice Ninja")


class InvoiceNinjaLink(models.Model):
    """One hub record <-> one Invoice Ninja object, with what each side looked like at the last sync."""

    class RemoteState(models.TextChoices):
        ACTIVE = "active", _("Actif")
        ARCHIVED = "archived", _("Archivé")
        DELETED = "deleted", _("Supprimé")

    connection = models.ForeignKey("core.Connection", on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(_("identifiant Invoice Ninja"), max_length=64)
    number = models.CharField(_("numéro Invoice Ninja"), max_length=60, blank=True)
    remote_state = models.CharField(
        _("état chez Invoice Ninja"), max_length=10, choices=RemoteState.choices, default=RemoteState.ACTIVE
    )
    # The vendor's updated_at we last reflected, and when the hub record was last made equal to it.
    remote_updated_at = models.DateTimeField(_("version Invoice Ninja reflétée"), null=True, blank=True)
    # updated_at has one-second resolution: two changes in the same second are told apart by content.
    remote_hash = models.CharField(_("empreinte de la version reflétée"), max_length=64, blank=True)
    last_synced_at = models.DateTimeField(_("dernière synchronisation"), null=True, blank=True)
    conflict_at = models.DateTimeField(_("conflit détecté le"), null=True, blank=True)
    conflict_detail = models.CharField(_("conflit"), max_length=500, blank=True)

    class Meta:
        abstract = True

    def __str__(self):
        return self.number or self.external_id

    @property
    def in_conflict(self) -> bool:
        return self.conflict_at is not None

    def has_local_changes(self, hub_record) -> bool:
        return self.last_synced_at is None or hub_record.updated_at > self.last_synced_at

    def has_remote_changes(self, remote_updated_at, remote_hash: str = "") -> bool:
        if remote_updated_at is None:
            return False
        if self.remote_updated_at is None or remote_updated_at > self.remote_updated_at:
            return True
        return remote_updated_at == self.remote_updated_at and bool(remote_hash) and remote_hash != self.remote_hash

    def mark_in_step(self, remote_updated_at=None, remote_hash: str = "", **fields):
        """The hub record now reflects the remote object: call after every hub write that did so."""
        if remote_updated_at is not None and (self.remote_updated_at is None
                                              or remote_updated_at >= self.remote_updated_at):
            self.remote_updated_at = remote_updated_at
            if remote_hash:
                self.remote_hash = remote_hash
        self.last_synced_at = timezone.now()
        self.conflict_at = None
        self.conflict_detail = ""
        for name, value in fields.items():
            setattr(self, name, value)
        # Only what it changed: a send action's email date, written meanwhile, stays.
        self.save(update_fields=["remote_updated_at", "remote_hash", "last_synced_at", "conflict_at",
                                 "conflict_detail", *fields])

    def mark_conflict(self, detail: str):
        self.conflict_at = timezone.now()
        self.conflict_detail = detail[:500]
        self.save(update_fields=["conflict_at", "conflict_detail"])


class ClientLink(InvoiceNinjaLink):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="invoiceninja_links")

    class Meta:
        verbose_name = _("lien client Invoice Ninja")
        verbose_name_plural = _("liens clients Invoice Ninja")
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"], name="in_clientlink_unique_remote"),
            models.UniqueConstraint(fields=["connection", "company"], name="in_clientlink_unique_company"),
        ]


class QuoteLink(InvoiceNinjaLink):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="invoiceninja_links")
    emailed_at = models.DateTimeField(_("envoyé par e-mail le"), null=True, blank=True)

    class Meta:
        verbose_name = _("lien devis Invoice Ninja")
        verbose_name_plural = _("liens devis Invoice Ninja")
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"], name="in_quotelink_unique_remote"),
            models.UniqueConstraint(fields=["connection", "quote"], name="in_quotelink_unique_quote"),
        ]


class InvoiceLink(InvoiceNinjaLink):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="invoiceninja_links")
    emailed_at = models.DateTimeField(_("envoyée par e-mail le"), null=True, blank=True)

    class Meta:
        verbose_name = _("lien facture Invoice Ninja")
        verbose_name_plural = _("liens factures Invoice Ninja")
        constraints = [
            models.UniqueConstraint(fields=["connection", "external_id"], name="in_invoicelink_unique_remote"),
            models.UniqueConstraint(fields=["connection", "invoice"], name="in_invoicelink_unique_invoice"),
        ]
