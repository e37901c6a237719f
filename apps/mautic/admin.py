"""Read-only admin of what the console knows about Mautic: links (with conflicts and DNC), reminders sent,
email activity, contact mirrors. The sandbox's own state is not registered."""

from django.contrib import admin

from apps.core.admin.mixins import ReadOnlyAdmin
from apps.mautic.models import ContactLink, ContactMirror, EmailActivity, ReminderSend


@admin.register(ContactLink)
class ContactLinkAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["email", "contact", "mautic_id", "unsubscribed", "bounced", "do_not_contact", "conflict_at",
                    "last_synced_at"]
    list_filter = ["unsubscribed", "bounced", "do_not_contact", "deleted_in_mautic", "connection"]
    search_fields = ["email", "contact__last_name", "contact__company__name"]
    list_select_related = ["contact"]


@admin.register(ReminderSend)
class ReminderSendAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["invoice", "level", "status", "link", "email_id", "sent_at"]
    list_filter = ["level", "status", "connection"]
    search_fields = ["invoice__number", "link__email"]
    list_select_related = ["invoice", "link"]


@admin.register(EmailActivity)
class EmailActivityAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "link", "invoice", "subject", "source"]
    list_filter = ["kind", "source", "connection"]
    search_fields = ["link__email", "invoice__number", "subject"]
    list_select_related = ["invoice", "link"]
    date_hierarchy = "occurred_at"


@admin.register(ContactMirror)
class ContactMirrorAdmin(ReadOnlyAdmin, admin.ModelAdmin):
    list_display = ["external_id", "remote_updated_at", "is_deleted", "synced_at", "connection"]
    list_filter = ["is_deleted", "connection"]
    search_fields = ["external_id"]
