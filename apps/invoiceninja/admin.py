"""Admin of the Invoice Ninja links and mirrors: a read-only audit of what the console knows remotely."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.core.admin.mixins import ReadOnlyAdmin
from apps.invoiceninja.models import (
    ClientLink, ClientMirror, InvoiceLink, InvoiceMirror, PaymentMirror, QuoteLink, QuoteMirror,
)


class LinkAdmin(admin.ModelAdmin):
    list_display = ("__str__", "external_id", "remote_state", "last_synced_at", "conflict_at", "connection")
    list_filter = ("remote_state", ("conflict_at", admin.EmptyFieldListFilter), "connection")
    search_fields = ("external_id", "number")
    readonly_fields = ("connection", "external_id", "number", "remote_state", "remote_updated_at", "last_synced_at",
                       "conflict_at", "conflict_detail")

    def has_add_permission(self, request):
        return False


@admin.register(ClientLink)
class ClientLinkAdmin(LinkAdmin):
    list_display = ("company", *LinkAdmin.list_display)
    readonly_fields = ("company", *LinkAdmin.readonly_fields)


@admin.register(QuoteLink)
class QuoteLinkAdmin(LinkAdmin):
    list_display = ("quote", *LinkAdmin.list_display, "emailed_at")
    readonly_fields = ("quote", *LinkAdmin.readonly_fields, "emailed_at")


@admin.register(InvoiceLink)
class InvoiceLinkAdmin(LinkAdmin):
    list_display = ("invoice", *LinkAdmin.list_display, "emailed_at")
    readonly_fields = ("invoice", *LinkAdmin.readonly_fields, "emailed_at")


class MirrorAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ("external_id", "number", "remote_updated_at", "is_deleted", "synced_at", "connection")
    list_filter = ("is_deleted", "connection")
    search_fields = ("external_id",)
    readonly_fields = ("connection", "external_id", "payload", "content_hash", "remote_updated_at", "is_deleted",
                       "synced_at", "seen_at")

    @admin.display(description=_("numéro"))
    def number(self, obj):
        return obj.payload.get("number", "")


for mirror in (ClientMirror, QuoteMirror, InvoiceMirror, PaymentMirror):
    admin.site.register(mirror, MirrorAdmin)

