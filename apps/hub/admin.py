"""Admin pages of the hub records, with the kernel's action bar, panels and timeline on each record.

The hub knows no outside system: the Invoice Ninja number, link and sync state come from the record
panels the system apps register (apps.core.record_panels), rendered by ContextualActionsAdmin.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin.mixins import ContextualActionsAdmin
from apps.hub.forms import RecordVersionForm
from apps.hub.models import Company, Contact, Invoice, InvoiceLine, Payment, Quote, QuoteLine, SupplierBill


class VersionCheckedAdmin:
    """The change form refuses to save over a newer version of its record (apps.hub.forms)."""

    form = RecordVersionForm

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not self.has_change_permission(request, obj):
            return fieldsets
        return [*fieldsets, (None, {"fields": ["record_version"], "classes": ["hidden"]})]


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ("first_name", "last_name", "email", "phone", "is_primary")


@admin.register(Company)
class CompanyAdmin(VersionCheckedAdmin, ContextualActionsAdmin, admin.ModelAdmin):
    list_display = ("name", "is_client", "is_supplier", "email", "city", "vat_number")
    list_filter = ("is_client", "is_supplier", "country_code", "currency")
    search_fields = ("name", "email", "vat_number", "city", "contacts__email", "contacts__last_name")
    inlines = [ContactInline]
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", ("is_client", "is_supplier"), "email", "phone", "vat_number")}),
        (_("Adresse"), {"fields": ("address1", ("postal_code", "city"), "region", "country_code", "currency")}),
        (_("Coordonnées bancaires (fournisseur)"), {
            "fields": (("iban", "bic"), "account_no", ("sort_code", "routing_number")),
            "classes": ("collapse",),
            "description": _("L'IBAN (et le BIC) suffit. Sans IBAN : numéro de compte et sort code pour un compte "
                             "britannique en GBP, numéro de compte et routing number pour un compte américain en "
                             "USD (l'adresse complète est alors exigée)."),
        }),
        (_("Suivi"), {"fields": ("created_at", "updated_at")}),
    )


class LineInline(admin.TabularInline):
    extra = 1
    fields = ("position", "description", "quantity", "unit_price", "tax_rate")


class QuoteLineInline(LineInline):
    model = QuoteLine


class InvoiceLineInline(LineInline):
    model = InvoiceLine


class SalesDocumentAdmin(VersionCheckedAdmin, ContextualActionsAdmin, admin.ModelAdmin):
    """Totals are computed from the lines (never typed): read-only, recalculated on every save.

    Fields the integrations own are never written by the form: the status (sent, accepted, paid come
    from Invoice Ninja), and the number once the document has left the draft (the vendor's number).
    """

    list_display = ("__str__", "status", "company", "issue_date", "total_display")
    list_filter = ("status", "currency", "issue_date")
    search_fields = ("number", "title", "company__name")
    list_select_related = ("company",)
    autocomplete_fields = ("company",)
    date_hierarchy = "issue_date"
    readonly_fields = ("subtotal", "tax_total", "total", "created_by", "created_at", "updated_at")

    @admin.display(description=_("Total TTC"), ordering="total")
    def total_display(self, obj):
        return f"{obj.total} {obj.currency}"

    def get_readonly_fields(self, request, obj=None):
        owned = ["status"]
        if obj is not None and obj.status != obj.Status.DRAFT:
            owned.append("number")
        return [*super().get_readonly_fields(request, obj), *(f for f in owned if f not in self.readonly_fields)]

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.recalculate_totals()


@admin.register(Quote)
class QuoteAdmin(SalesDocumentAdmin):
    inlines = [QuoteLineInline]
    fields = ("company", "number", "title", "status", ("issue_date", "valid_until"), "currency", "notes",
              ("subtotal", "tax_total", "total"), "created_by", ("created_at", "updated_at"))


@admin.register(Invoice)
class InvoiceAdmin(SalesDocumentAdmin):
    inlines = [InvoiceLineInline]
    list_display = ("__str__", "status", "company", "issue_date", "due_date", "total_display", "amount_paid")
    list_filter = ("status", "currency", "issue_date", "due_date")
    autocomplete_fields = ("company", "quote")
    # Paid amounts and status come from recorded payments, never typed.
    readonly_fields = (*SalesDocumentAdmin.readonly_fields, "status", "amount_paid")
    fields = ("company", "quote", "number", "title", "status", ("issue_date", "due_date"), "currency", "notes",
              ("subtotal", "tax_total", "total"), "amount_paid", "created_by", ("created_at", "updated_at"))


@admin.register(SupplierBill)
class SupplierBillAdmin(VersionCheckedAdmin, ContextualActionsAdmin, admin.ModelAdmin):
    list_display = ("reference", "status", "supplier", "issue_date", "due_date", "amount_display")
    list_filter = ("status", "currency", "due_date")
    search_fields = ("reference", "description", "supplier__name")
    list_select_related = ("supplier",)
    autocomplete_fields = ("supplier",)
    # Status and payment date move with the Revolut payment, never by hand.
    readonly_fields = ("status", "paid_at", "created_at", "updated_at")

    @admin.display(description=_("Montant TTC"), ordering="amount")
    def amount_display(self, obj):
        return f"{obj.amount} {obj.currency}"


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("date", "direction", "amount", "currency", "invoice", "supplier_bill", "source", "external_id")
    list_filter = ("direction", "source", "currency", "date")
    search_fields = ("external_id", "invoice__number", "invoice__company__name", "supplier_bill__reference")
    list_select_related = ("invoice", "supplier_bill__supplier")  # a bill is shown with its supplier
    autocomplete_fields = ("invoice", "supplier_bill")
    date_hierarchy = "date"
