from django.contrib import admin

from apps.automations.models import BankCredit, Chain, Rule


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = ("__str__", "enabled", "changed_by", "changed_at")
    list_editable = ("enabled",)
    fields = ("key", "enabled")
    readonly_fields = ("key",)

    def has_add_permission(self, request):
        return False  # rows are created for the rules the code defines (see views.switch_rule / migration)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Chain)
class ChainAdmin(admin.ModelAdmin):
    list_display = ("rule", "object_id", "status", "step", "waiting_for", "attempts", "created_at")
    list_filter = ("rule", "status")
    readonly_fields = [f.name for f in Chain._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(BankCredit)
class BankCreditAdmin(admin.ModelAdmin):
    list_display = ("created_at", "amount", "currency", "payer", "reference", "status", "invoice", "reason")
    list_filter = ("status",)
    readonly_fields = [f.name for f in BankCredit._meta.fields]

    def has_add_permission(self, request):
        return False
