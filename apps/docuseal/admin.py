"""Read-only admin of the signature requests: DocuSeal and its webhooks write them, nobody by hand.

The archived files are not linked from here: they are downloaded from the quote's panel, whose view checks
the quote's permission. The sandbox's own tables are not registered: they belong to the emulator.
"""

from django.contrib import admin

from apps.core.admin.mixins import ReadOnlyAdmin
from apps.docuseal.models import SignatureRequest, SignedDocument, Signer, SubmissionMirror


class SignerInline(ReadOnlyAdmin, admin.TabularInline):
    model = Signer
    fields = ["order", "name", "email", "role", "status", "decline_reason", "opened_at", "completed_at"]
    readonly_fields = fields
    extra = 0


class SignedDocumentInline(ReadOnlyAdmin, admin.TabularInline):
    model = SignedDocument
    fields = ["kind", "name", "size", "sha256", "archived_at"]
    readonly_fields = fields
    extra = 0


@admin.register(SignatureRequest)
class SignatureRequestAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["quote", "submission_id", "status", "source", "archive_state", "created_at", "connection"]
    list_filter = ["status", "archive_state", "source", "connection"]
    search_fields = ["quote__number", "quote__company__name", "signers__email"]
    list_select_related = ["quote", "connection"]
    inlines = [SignerInline, SignedDocumentInline]


@admin.register(SubmissionMirror)
class SubmissionMirrorAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["external_id", "status", "synced_at", "connection"]
    list_filter = ["status", "connection"]
    search_fields = ["external_id"]
