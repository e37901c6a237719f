"""The sync log: every SyncRun with its counts; the progress page follows one live."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.core.admin.mixins import ReadOnlyAdmin
from apps.core.models import SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = (
        "id", "connection", "resource", "kind", "status", "pages", "added", "updated", "unchanged", "deleted",
        "failed", "started_at", "heartbeat_at", "finished_at", "progress_link",
    )
    list_filter = ("status", "kind", "connection", "resource", "started_at", "finished_at")
    list_select_related = ("connection",)
    search_fields = ("resource", "connection__name", "connection__slug")
    date_hierarchy = "created_at"
    readonly_fields = ("progress_link",)

    @admin.display(description=_("progression"))
    def progress_link(self, run):
        return format_html('<a href="{}">{}</a>', reverse("core:sync_progress", args=[run.pk]), _("Suivre"))

