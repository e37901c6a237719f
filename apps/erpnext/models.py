"""What the console keeps about ERPNext: raw mirrors of seven doctypes and the Company <-> party links.

Mirrors hold the list rows exactly as ERPNext returned them (the fields each sync resource asks for),
keyed by (connection, `name`). They are never edited here and never written back: ERPNext is read only.
A `PartyLink` ties a hub Company to an ERPNext Customer or Supplier: made automatically when the match is
unique (tax id first, then exact name), otherwise left as a suggestion for a person to confirm.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import ExternalRecord
from apps.erpnext.sandbox.state import SandboxDocument, SandboxSite  # noqa: F401  (sandbox tables)
from apps.hub.models import Company


class Mirror(ExternalRecord):
    class Meta(ExternalRecord.Meta):
        abstract = True

    def __str__(self):
        return self.external_id

    @property
    def docstatus(self) -> int:
        return int(self.payload.get("docstatus") or 0)


class CustomerMirror(Mirror):
    class Meta(Mirror.Meta):
        verbose_name = _("client ERPNext")
        verbose_name_plural = _("clients ERPNext")


class SupplierMirror(Mirror):
    class Meta(Mirror.Meta):
        verbose_name = _("fournisseur ERPNext")
        verbose_name_plural = _("fournisseurs ERPNext")


class SalesInvoiceMirror(Mirror):
    class Meta(Mirror.Meta):
        verbose_name = _("facture de vente ERPNext")
        verbose_name_plural = _("factures de vente ERPNext")


class PurchaseInvoiceMirror(Mirror):
    class Meta(Mirror.Meta):
        verbose_name = _("facture d'achat ERPNext")
        verbose_name_plural = _("factures d'achat ERPNext")


class PaymentEntryMirror(Mirror):
    class Meta(Mirror.Meta):
        verbose_name = _("paiement ERPNext")
        verbose_name_plural = _("paiements ERPNext")


class ItemMirror(Mirror):
    class Meta(Mirror.Meta):
        verbose_name = _("article ERPNext")
        verbose_name_plural = _("articles ERPNext")


class BinMirror(Mirror):
    class Meta(Mirror.Meta):
        verbose_name = _("stock par entrepôt ERPNext")
        verbose_name_plural = _("stocks par entrepôt ERPNext")


class PartyLink(models.Model):
    """A hub Company <-> an ERPNext Customer or Supplier (by its `name`), linked or only suggested."""

    class PartyType(models.TextChoices):
        CUSTOMER = "Customer", _("Client")
        SUPPLIER = "Supplier", _("Fournisseur")

    class Status(models.TextChoices):
        LINKED = "linked", _("Lié")
        SUGGESTED = "suggested", _("À confirmer")

    class MatchedBy(models.TextChoices):
        TAX_ID = "tax_id", _("N° TVA")
        NAME = "name", _("Nom exact")
        USER = "user", _("Confirmé par un utilisateur")

    connection = models.ForeignKey("core.Connection", on_delete=models.CASCADE, related_name="+",
                                   verbose_name=_("connexion"))
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="erpnext_links",
                                verbose_name=_("société"))
    party_type = models.CharField(_("type de tiers"), max_length=10, choices=PartyType.choices)
    party_name = models.CharField(_("identifiant ERPNext"), max_length=140)
    party_label = models.CharField(_("nom dans ERPNext"), max_length=200, blank=True)
    status = models.CharField(_("état"), max_length=10, choices=Status.choices, default=Status.SUGGESTED)
    matched_by = models.CharField(_("rapproché par"), max_length=8, choices=MatchedBy.choices)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("confirmé par"))
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("lien société ERPNext")
        verbose_name_plural = _("liens sociétés ERPNext")
        ordering = ["company__name", "party_type", "party_name"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "company", "party_type", "party_name"],
                                    name="erpnext_partylink_unique"),
            # One linked party of each type per company and connection; suggestions may be several.
            models.UniqueConstraint(fields=["connection", "company", "party_type"],
                                    condition=models.Q(status="linked"), name="erpnext_partylink_one_linked"),
        ]

    def __str__(self):
        return f"{self.company} ↔ {self.get_party_type_display()} {self.party_label or self.party_name}"
