"""CsvExportAdmin: "Exporter en CSV" on an admin list, exporting the list as it is filtered, searched and sorted.

    @admin.register(Invoice)
    class InvoiceAdmin(CsvExportAdmin, admin.ModelAdmin):
        resource_classes = [InvoiceResource]

django-import-export does the plumbing (the export URL, the changelist's queryset with its filters, the Resource
that turns rows into cells); the console adds one format (apps.core.exports.SpreadsheetCSV, no format form to
fill), French file names, and the rule that whoever may see the list may export it, and nobody else.
"""

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from import_export.admin import ExportMixin

from apps.core.exports import SpreadsheetCSV

# Beyond this many rows the list is filtered first: the file is built in memory, in the request.
EXPORT_ROW_LIMIT = 50_000


class CsvExportAdmin(ExportMixin):
    import_export_change_list_template = "admin/core/change_list_export.html"
    export_formats = [SpreadsheetCSV]

    def has_export_permission(self, request):
        return self.has_view_or_change_permission(request)

    def get_export_filename(self, request, queryset, file_format):
        name = slugify(str(self.model._meta.verbose_name_plural))
        return f"{name}-{timezone.localdate():%Y-%m-%d}.{file_format.get_extension()}"

    def export_action(self, request):
        if not self.has_export_permission(request):
            raise PermissionDenied
        opts = self.model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        try:
            queryset = self.get_export_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(f"{changelist}?e=1")  # what the list itself answers to a broken filter
        if queryset[:EXPORT_ROW_LIMIT + 1].count() > EXPORT_ROW_LIMIT:
            messages.error(request, _("Plus de %(limit)s lignes : filtrez la liste avant de l'exporter.")
                           % {"limit": f"{EXPORT_ROW_LIMIT:_}".replace("_", "\u202f")})
            return HttpResponseRedirect(f"{changelist}?{request.GET.urlencode()}")
        return self._do_file_export(SpreadsheetCSV(), request, queryset)
