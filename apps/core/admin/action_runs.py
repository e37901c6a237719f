"""Every contextual-action click: who, what, when, outcome, external ids. Read-only."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin.exports import CsvExportAdmin
from apps.core.admin.mixins import ReadOnlyAdmin
from apps.core.admin.resources import ActionRunResource
from apps.core.models import ActionRun


@admin.register(ActionRun)
class ActionRunAdmin(ReadOnlyAdmin, CsvExportAdmin, admin.ModelAdmin):
    resource_classes = [ActionRunResource]
    list_display = ("created_at", "label", "target_display", "user", "status", "message", "finished_at")
    list_filter = ("status", "action", "content_type", "created_at")
    list_select_related = ("user", "content_type")
    search_fields = ("label", "action", "object_id", "idempotency_key", "message")
    date_hierarchy = "created_at"

    @admin.display(description=_("dossier"))
    def target_display(self, run):
        return _("%(kind)s n° %(id)s") % {"kind": run.content_type.name, "id": run.object_id}

