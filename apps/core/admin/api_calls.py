"""The outbound call log: read-only, filterable, cheap on a large table (no full COUNT(*))."""

from django.contrib import admin
from django.contrib.admin import DateFieldListFilter
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.core.admin.mixins import ReadOnlyAdmin
from apps.core.models import ApiCall


class StatusClassFilter(admin.SimpleListFilter):
    title = _("statut HTTP")
    parameter_name = "statut"

    RANGES = {"2xx": (200, 300), "3xx": (300, 400), "4xx": (400, 500), "5xx": (500, 600)}

    def lookups(self, request, model_admin):
        return [
            ("2xx", _("Succès (2xx)")),
            ("3xx", _("Redirection (3xx)")),
            ("4xx", _("Erreur client (4xx)")),
            ("5xx", _("Erreur serveur (5xx)")),
            ("reseau", _("Erreur réseau (sans réponse)")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "reseau":
            return queryset.filter(status_code__isnull=True)
        if self.value() in self.RANGES:
            low, high = self.RANGES[self.value()]
            return queryset.filter(status_code__gte=low, status_code__lt=high)
        return queryset


@admin.register(ApiCall)
class ApiCallAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("created_at", "connection", "method", "url", "status_badge", "duration_ms", "attempt",
                    "request_id", "error")
    list_filter = ("connection", StatusClassFilter, ("created_at", DateFieldListFilter), "method")
    list_select_related = ("connection",)
    search_fields = ("=request_id",)
    search_help_text = _("Identifiant de requête exact, tel que renvoyé par le fournisseur.")
    show_full_result_count = False
    list_per_page = 50
    ordering = ("-created_at", "-id")

    class Media:
        css = {"all": ["core/status-badges.css"]}


    @admin.display(description=_("statut HTTP"), ordering="status_code")
    def status_badge(self, obj):
        if obj.status_code is None:
            return format_html('<span class="console-badge console-badge--down">{}</span>', _("réseau"))
        state = "ok" if obj.status_code < 400 else ("degraded" if obj.status_code < 500 else "down")
        return format_html('<span class="console-badge console-badge--{}">{}</span>', state, obj.status_code)
