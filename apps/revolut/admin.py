"""Read-only admin of the Revolut mirrors and payments: Revolut is the truth, the console only reads it.

The sandbox's own state is not registered: it belongs to the emulator, not to the console.
"""

from django.contrib import admin

from apps.core.admin.mixins import ReadOnlyAdmin
from apps.revolut.models import BalanceSnapshot, RevolutAccount, RevolutCounterparty, RevolutPayment, RevolutTransaction


@admin.register(RevolutAccount)
class RevolutAccountAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["name", "currency", "balance", "state", "seen_at", "connection"]
    list_filter = ["currency", "state", "connection"]
    search_fields = ["name", "external_id"]


@admin.register(BalanceSnapshot)
class BalanceSnapshotAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["account", "balance", "recorded_at"]
    list_filter = ["account"]
    date_hierarchy = "recorded_at"


@admin.register(RevolutCounterparty)
class RevolutCounterpartyAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["name", "iban", "currency", "state", "company", "connection"]
    list_filter = ["state", "connection"]
    search_fields = ["name", "iban", "external_id"]


@admin.register(RevolutTransaction)
class RevolutTransactionAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["created_at_remote", "type", "amount", "currency", "state", "reference", "request_id"]
    list_filter = ["state", "type", "currency", "connection"]
    search_fields = ["external_id", "request_id", "reference"]
    date_hierarchy = "created_at_remote"


@admin.register(RevolutPayment)
class RevolutPaymentAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["created_at", "bill", "amount", "currency", "state", "transaction_id", "requested_by"]
    list_select_related = ["bill__supplier", "requested_by"]  # a payment is shown through its bill and supplier
    list_filter = ["state", "currency"]
    search_fields = ["request_id", "transaction_id", "bill__reference", "bill__supplier__name"]
    readonly_fields = [field.name for field in RevolutPayment._meta.fields]
