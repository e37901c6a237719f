"""Admin of the ERPNext mirrors (read only: ERPNext is the reference) and of the Company <-> party links."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin.mixins import ReadOnlyAdmin
from apps.erpnext.models import (
    BinMirror, CustomerMirror, ItemMirror, PartyLink, PaymentEntryMirror, PurchaseInvoiceMirror, SalesInvoiceMirror,
    SupplierMirror,
)


class MirrorAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("external_id", "label", "status", "remote_updated_at", "is_deleted", "synced_at", "connection")
    list_filter = ("is_deleted", "connection")
    search_fields = ("external_id",)
    readonly_fields = ("connection", "external_id", "payload", "content_hash", "remote_updated_at", "is_deleted",
                       "synced_at", "seen_at")
    label_keys = ("customer_name", "supplier_name", "party_name", "item_name", "item_code")

    @admin.display(description=_("libellé"))
    def label(self, obj):
        for key in self.label_keys:
            if obj.payload.get(key):
                if key == "item_code":  # a Bin: its item in its warehouse
                    return f"{obj.payload[key]} — {obj.payload.get('warehouse', '')}"
                return obj.payload[key]
        return ""

    @admin.display(description=_("statut"))
    def status(self, obj):
        return obj.payload.get("status") or ("" if "docstatus" not in obj.payload else obj.payload["docstatus"])


for mirror in (CustomerMirror, SupplierMirror, SalesInvoiceMirror, PurchaseInvoiceMirror, PaymentEntryMirror,
               ItemMirror, BinMirror):
    admin.site.register(mirror, MirrorAdmin)


@admin.register(PartyLink)
class PartyLinkAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    """Links are made by the sync and confirmed from the ERPNext page or the company's page."""

    list_display = ("company", "party_type", "party_name", "party_label", "status", "matched_by", "connection")
    list_filter = ("status", "party_type", "matched_by")
    search_fields = ("company__name", "party_name", "party_label")
    list_select_related = ("company", "connection")
