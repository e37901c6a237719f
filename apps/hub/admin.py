"""Admin pages of the hub records, with the kernel's action bar, panels and timeline on each record.

The hub knows no outside system: the Invoice Ninja number, link and sync state come from the record
panels the system apps register (apps.core.record_panels), rendered by ContextualActionsAdmin.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from apps.core.admin.exports import CsvExportAdmin
from apps.core.admin.mixins import ContextualActionsAdmin
from apps.core.models import TimelineEntry
from apps.core.numbers import LocalizedDecimalField, format_money, format_number
from apps.hub.exports import (
    CompanyResource,
    InvoiceResource,
    PaymentResource,
    QuoteResource,
    SupplierBillResource,
)
from apps.hub.forms import CompanyForm, RecordVersionForm
from apps.hub.models import (
    Company,
    Contact,
    ExchangeRate,
    Invoice,
    InvoiceLine,
    Payment,
    Quote,
    QuoteLine,
    SupplierBill,
)


# Every amount and quantity typed in a hub form reads "123,45" and "123.45" alike (apps.core.numbers).
FRENCH_NUMBERS = {models.DecimalField: {"form_class": LocalizedDecimalField}}


class VersionCheckedAdmin:
    """The change form refuses to save over a newer version of its record (apps.hub.forms)."""

    form = RecordVersionForm
    formfield_overrides = FRENCH_NUMBERS

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not self.has_change_permission(request, obj):
            return fieldsets
        return [*fieldsets, (None, {"fields": ["record_version"], "classes": ["hidden"]})]


class ContactInline(admin.TabularInline):
    model = Contact
    formfield_overrides = FRENCH_NUMBERS
    extra = 0
    fields = ("first_name", "last_name", "email", "phone", "is_primary")


@admin.register(Company)
class CompanyAdmin(VersionCheckedAdmin, ContextualActionsAdmin, CsvExportAdmin, admin.ModelAdmin):
    form = CompanyForm
    resource_classes = [CompanyResource]
    list_display = ("name", "is_client", "is_supplier", "email", "city", "vat_number")
    list_filter = ("is_client", "is_supplier", "country_code", "currency")
    search_fields = ("name", "email", "vat_number", "registration_number", "city", "contacts__email",
                     "contacts__last_name")
    inlines = [ContactInline]
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", ("is_client", "is_supplier"), "email", "phone",
                           ("registration_number", "vat_number"))}),
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
    """A document's lines: editable while it is a draft or a new version is open, read-only otherwise."""

    extra = 1
    formfield_overrides = FRENCH_NUMBERS
    fields = ("position", "description", "quantity", "unit_price", "tax_rate", "line_total")
    readonly_fields = ("line_total", "quantity_shown", "unit_price_shown", "tax_rate_shown")
    locked_fields = ("position", "description", "quantity_shown", "unit_price_shown", "tax_rate_shown", "line_total")

    def get_fields(self, request, obj=None):
        # Locked lines read like the editable ones ("2,5", "450,00 €"), not as raw decimals ("2,500").
        return self.fields if self._lines_editable(obj) else self.locked_fields

    @admin.display(description=_("quantité"))
    def quantity_shown(self, line):
        return format_number(line.quantity, 0)

    @admin.display(description=_("prix unitaire HT"))
    def unit_price_shown(self, line):
        return format_money(line.unit_price, line.document.currency)

    @admin.display(description=_("taux de TVA (%)"))
    def tax_rate_shown(self, line):
        return format_number(line.tax_rate, 0)

    @admin.display(description=_("total HT de la ligne"))
    def line_total(self, line):
        if line is None or line.pk is None:
            return "—"
        return format_money(line.net_amount, line.document.currency)

    def _lines_editable(self, obj):
        return obj is None or obj.lines_editable

    def has_add_permission(self, request, obj=None):
        return self._lines_editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._lines_editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._lines_editable(obj) and super().has_delete_permission(request, obj)

    def get_extra(self, request, obj=None, **kwargs):
        return self.extra if self._lines_editable(obj) else 0


class QuoteLineInline(LineInline):
    model = QuoteLine


class InvoiceLineInline(LineInline):
    model = InvoiceLine


class SalesDocumentAdmin(VersionCheckedAdmin, ContextualActionsAdmin, CsvExportAdmin, admin.ModelAdmin):
    change_form_template = "admin/hub/sales_document_change_form.html"

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
    readonly_fields = ("subtotal_display", "tax_total_display", "total_display", "created_by", "created_at",
                       "updated_at")

    @admin.display(description=_("total HT"), ordering="subtotal")
    def subtotal_display(self, obj):
        return format_money(obj.subtotal, obj.currency)

    @admin.display(description=_("TVA"), ordering="tax_total")
    def tax_total_display(self, obj):
        return format_money(obj.tax_total, obj.currency)

    @admin.display(description=_("Total TTC"), ordering="total")
    def total_display(self, obj):
        return format_money(obj.total, obj.currency)

    def get_readonly_fields(self, request, obj=None):
        owned = ["status"]
        if obj is not None and obj.status != obj.Status.DRAFT:
            owned.append("number")
        if obj is not None and not obj.lines_editable:
            owned += ["company", "currency"]  # what the lines' prices mean, locked with them
        return [*super().get_readonly_fields(request, obj), *(f for f in owned if f not in self.readonly_fields)]

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.instance.recalculate_totals()

    # "Nouvelle version": the one way to change a sent document's lines, recorded on its timeline.
    def get_urls(self):
        opts = self.model._meta
        return [
            path("<path:object_id>/new-version/", self.admin_site.admin_view(self.new_version_view),
                 name=f"{opts.app_label}_{opts.model_name}_new_version"),
            *super().get_urls(),
        ]

    def new_version_view(self, request, object_id):
        document = get_object_or_404(self.model, pk=object_id)
        if not self.has_change_permission(request, document):
            raise PermissionDenied
        change_url = document.get_absolute_url()
        if not document.may_open_new_version:
            messages.error(request, gettext("Les lignes de %(document)s ne peuvent pas être rouvertes (%(status)s).")
                           % {"document": document, "status": document.get_status_display()})
            return redirect(change_url)
        if request.method == "POST":
            document.lines_reopened_at = timezone.now()
            document.save(update_fields=["lines_reopened_at", "updated_at"])
            TimelineEntry.record(document, gettext_noop(
                "Nouvelle version ouverte par %(user)s : les lignes sont modifiables jusqu'au prochain envoi."),
                params={"user": request.user.get_full_name() or request.user.get_username()},
                level=TimelineEntry.Level.WARNING)
            messages.warning(request, gettext(
                "Nouvelle version ouverte : modifiez les lignes puis renvoyez le document."))
            return redirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Nouvelle version de %(document)s") % {"document": document},
            "subtitle": None, "document": document, "opts": self.model._meta, "change_url": change_url,
        }
        return TemplateResponse(request, "admin/hub/new_version_confirmation.html", context)


@admin.register(Quote)
class QuoteAdmin(SalesDocumentAdmin):
    resource_classes = [QuoteResource]
    inlines = [QuoteLineInline]
    fields = ("company", "number", "title", "status", ("issue_date", "valid_until"), "currency", "notes",
              ("subtotal_display", "tax_total_display", "total_display"), "created_by", ("created_at", "updated_at"))


class OverdueFilter(admin.SimpleListFilter):
    """"En retard": sent or partly paid, past the due date (the home's to-do links here)."""

    title = _("retard de paiement")
    parameter_name = "en_retard"

    def lookups(self, request, model_admin):
        return [("oui", _("En retard"))]

    def queryset(self, request, queryset):
        return queryset.overdue() if self.value() == "oui" else queryset


@admin.register(Invoice)
class InvoiceAdmin(SalesDocumentAdmin):
    resource_classes = [InvoiceResource]
    inlines = [InvoiceLineInline]
    list_display = ("__str__", "status", "company", "issue_date", "due_date", "total_display", "amount_paid_display")
    list_filter = (OverdueFilter, "status", "currency", "issue_date", "due_date")
    autocomplete_fields = ("company", "quote")
    # Paid amounts and status come from recorded payments, never typed.
    readonly_fields = (*SalesDocumentAdmin.readonly_fields, "status", "amount_paid_display")
    fields = ("company", "quote", "number", "title", "status", ("issue_date", "due_date"), "currency", "notes",
              ("subtotal_display", "tax_total_display", "total_display"), "amount_paid_display", "created_by",
              ("created_at", "updated_at"))

    @admin.display(description=_("montant payé"), ordering="amount_paid")
    def amount_paid_display(self, obj):
        return format_money(obj.amount_paid, obj.currency)


@admin.register(SupplierBill)
class SupplierBillAdmin(VersionCheckedAdmin, ContextualActionsAdmin, CsvExportAdmin, admin.ModelAdmin):
    resource_classes = [SupplierBillResource]
    list_display = ("reference", "status", "supplier", "issue_date", "due_date", "amount_display")
    list_filter = ("status", "currency", "due_date")
    search_fields = ("reference", "description", "supplier__name")
    list_select_related = ("supplier",)
    autocomplete_fields = ("supplier",)
    # Status and payment date move with the Revolut payment, never by hand.
    readonly_fields = ("status", "paid_at", "created_at", "updated_at")

    @admin.display(description=_("Montant TTC"), ordering="amount")
    def amount_display(self, obj):
        return format_money(obj.amount, obj.currency)


@admin.register(Payment)
class PaymentAdmin(CsvExportAdmin, admin.ModelAdmin):
    resource_classes = [PaymentResource]
    list_display = ("date", "direction", "amount_display", "invoice", "supplier_bill", "source", "external_id")
    formfield_overrides = FRENCH_NUMBERS

    @admin.display(description=_("montant"), ordering="amount")
    def amount_display(self, obj):
        return format_money(obj.amount, obj.currency)
    list_filter = ("direction", "source", "currency", "date")
    search_fields = ("external_id", "invoice__number", "invoice__company__name", "supplier_bill__reference")
    list_select_related = ("invoice", "supplier_bill__supplier")  # a bill is shown with its supplier
    autocomplete_fields = ("invoice", "supplier_bill")
    date_hierarchy = "date"


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    """Rates the approval threshold converts other currencies with (apps.hub.approval_rule)."""

    list_display = ("currency", "rate", "valid_on", "source")
    list_filter = ("currency",)
    formfield_overrides = FRENCH_NUMBERS
    fields = ("currency", "rate", "valid_on", "source")
