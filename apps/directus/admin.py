"""Read-only admin of the Directus outbox and mirror state: the console writes them, nobody edits them.

The sandbox's own state is not registered: it belongs to the emulator, not to the console.
"""

from django.contrib import admin

from apps.core.admin.mixins import ReadOnlyAdmin
from apps.directus.models import DirectusItem, MirroredItem, OutboxEntry, StatusFacts


@admin.register(OutboxEntry)
class OutboxEntryAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["id", "collection", "item_id", "operation", "reason", "status", "attempts", "next_attempt_at",
                    "last_error", "connection"]
    list_filter = ["status", "collection", "reason", "connection"]
    search_fields = ["item_id"]


@admin.register(MirroredItem)
class MirroredItemAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["collection", "item_id", "pushed_at", "note", "connection"]
    list_filter = ["collection", "connection"]
    search_fields = ["item_id"]


@admin.register(DirectusItem)
class DirectusItemAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["external_id", "remote_updated_at", "synced_at", "is_deleted", "connection"]
    list_filter = ["connection"]
    search_fields = ["external_id"]


@admin.register(StatusFacts)
class StatusFactsAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["record_type", "record_id", "signature_state", "reminder_level", "reported_by", "updated_at"]
    list_filter = ["record_type", "reported_by"]
