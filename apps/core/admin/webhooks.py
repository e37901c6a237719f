"""The webhook log: every delivery received, read-only, with replay for those allowed to."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core import providers
from apps.core.admin.exports import CsvExportAdmin
from apps.core.admin.mixins import ReadOnlyAdmin
from apps.core.admin.resources import WebhookEventResource
from apps.core.models import TimelineEntry, WebhookEvent
from apps.core.storable import storable_text
from apps.core.webhooks.pagination import EstimatedCountPaginator
from apps.core.webhooks.processing import mark_ignored, replay


class ProviderFilter(admin.SimpleListFilter):
    # Choices from the registry, not a DISTINCT over a million rows.
    title = _("système")
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        return [(p.key, p.label) for p in providers.all_providers()]

    def queryset(self, request, queryset):
        return queryset.filter(provider=self.value()) if self.value() else queryset


class EventTypeFilter(admin.SimpleListFilter):
    title = _("type d'événement")
    parameter_name = "event_type"

    def lookups(self, request, model_admin):
        selected = request.GET.get(ProviderFilter.parameter_name)
        # Without a system chosen, each label names its system: "Paiement modifié" exists in two of them.
        types = {
            event_type: (provider.event_label(event_type) if selected
                         else f"{provider.event_label(event_type)} — {provider.label}")
            for provider in providers.all_providers()
            if not selected or provider.key == selected
            for event_type in provider.webhook_handlers
        }
        return sorted(types.items(), key=lambda item: str(item[1]))

    def queryset(self, request, queryset):
        return queryset.filter(event_type=self.value()) if self.value() else queryset


def pretty_json(raw: bytes | str) -> str:
    """Indented JSON, or the text as received when it is not JSON (any stored body renders, even a rejected one
    nested past the parser's recursion limit); lone surrogates (`\ud800` in the body) are shown escaped."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    except (ValueError, TypeError, RecursionError):
        pass
    return storable_text(text)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin, CsvExportAdmin, admin.ModelAdmin):
    resource_classes = [WebhookEventResource]
    # An audit trail (ReadOnlyAdmin); retention deletes, never a person.
    change_form_template = "admin/core/webhookevent/change_form.html"
    list_display = ("received_at", "provider_column", "connection", "event_column", "status", "provider_event_id",
                    "reason_column", "attempts")
    list_filter = (
        ProviderFilter,
        "connection",
        "status",
        EventTypeFilter,
        ("received_at", admin.DateFieldListFilter),
    )
    list_select_related = ("connection",)
    search_fields = ("provider_event_id",)
    search_help_text = _("Une partie de l'identifiant d'événement, ou l'identifiant d'un objet chez le système "
                         "(tel qu'affiché sur le dossier, par exemple le n° Invoice Ninja).")
    # Newest first by primary key: ids grow with reception time and the pk index serves the unfiltered list.
    ordering = ("-id",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    actions = ("replay_selected", "mark_selected_ignored")
    fieldsets = (
        (None, {"fields": ("provider", "connection", "event_type", "provider_event_id", "status", "duplicate_of")}),
        (_("Réception"), {"fields": ("received_at", "remote_addr", "duplicate_count", "last_duplicate_at",
                                     "pretty_headers", "pretty_body")}),
        (_("Traitement"), {"fields": ("attempts", "processed_at", "last_error", "traceback_block")}),
    )
    readonly_fields = (
        "provider", "connection", "event_type", "provider_event_id", "status", "duplicate_of", "received_at",
        "remote_addr", "duplicate_count", "last_duplicate_at", "pretty_headers", "pretty_body", "attempts", "processed_at", "last_error", "traceback_block",
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.resolver_match and request.resolver_match.url_name.endswith(("_changelist", "_export")):
            queryset = queryset.defer("body", "headers", "traceback")
        return queryset

    def get_search_results(self, request, queryset, search_term):
        """Any part of the event key, or a vendor object id the processed event wrote on a record's timeline.

        A LIKE over the keys (the list pages through an estimated count, so the scan stops at one page);
        object ids come from the timeline entries the handlers recorded with their `external_ids`.
        """
        search_term = search_term.strip()
        if not search_term:
            return queryset, False
        by_object = (TimelineEntry.objects.filter(webhook_event__isnull=False, external_ids__icontains=search_term)
                     .values("webhook_event"))
        return queryset.filter(Q(provider_event_id__icontains=search_term) | Q(pk__in=by_object)), False

    @admin.display(description=_("système"), ordering="provider")
    def provider_column(self, event):
        try:
            return providers.get(event.provider).label
        except providers.UnknownProvider:
            return event.provider

    @admin.display(description=_("événement"), ordering="event_type")
    def event_column(self, event):
        """What happened, as people read it ("Devis envoyé"); the raw type stays in the detail and the filter."""
        try:
            return providers.get(event.provider).event_label(event.event_type) if event.event_type else "—"
        except providers.UnknownProvider:
            return event.event_type

    @admin.display(description=_("motif"))
    def reason_column(self, event):
        """Why a delivery was rejected, failed or ignored, in the list (not only on the detail page)."""
        if event.status in (WebhookEvent.Status.REJECTED, WebhookEvent.Status.FAILED, WebhookEvent.Status.IGNORED):
            return Truncator(event.last_error).chars(90) or "—"
        return ""

    def has_replay_permission(self, request):
        return request.user.has_perm("core.replay_webhooks")

    @admin.display(description=_("corps (JSON mis en forme)"))
    def pretty_body(self, event):
        return format_html('<pre class="webhook-payload">{}</pre>', pretty_json(bytes(event.body)))

    @admin.display(description=_("en-têtes (secrets masqués)"))
    def pretty_headers(self, event):
        return format_html('<pre class="webhook-headers">{}</pre>', json.dumps(event.headers, indent=2,
                                                                            ensure_ascii=False, sort_keys=True))

    @admin.display(description=_("trace"))
    def traceback_block(self, event):
        return format_html("<pre>{}</pre>", event.traceback) if event.traceback else "—"

    def get_urls(self):
        return [
            path("<int:event_id>/replay/", self.admin_site.admin_view(self.replay_one), name="core_webhookevent_replay"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        context["can_replay"] = obj is not None and self.has_replay_permission(request) and obj.status not in (
            WebhookEvent.Status.REJECTED, WebhookEvent.Status.DUPLICATE)
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    def replay_one(self, request, event_id):
        """The "Rejouer" button of the detail page: the same replay as the list action, for one event."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_replay_permission(request):
            raise PermissionDenied
        queryset = WebhookEvent.objects.filter(pk=event_id)
        self.replay_selected(request, queryset)
        return HttpResponseRedirect(reverse("admin:core_webhookevent_change", args=[event_id]))

    @admin.action(description=_("Rejouer"), permissions=["replay"])
    def replay_selected(self, request, queryset):
        selected = queryset.count()
        replayed = replay(queryset)
        self.message_user(
            request,
            ngettext("%(count)d webhook remis en file.", "%(count)d webhooks remis en file.", replayed)
            % {"count": replayed},
            messages.SUCCESS if replayed else messages.WARNING,
        )
        if selected > replayed:
            self.message_user(
                request,
                ngettext(
                    "%(count)d webhook non rejoué (rejeté ou doublon : jamais traité).",
                    "%(count)d webhooks non rejoués (rejetés ou doublons : jamais traités).",
                    selected - replayed,
                ) % {"count": selected - replayed},
                messages.WARNING,
            )

    @admin.action(description=_("Marquer comme ignoré"), permissions=["replay"])
    def mark_selected_ignored(self, request, queryset):
        count = mark_ignored(queryset)
        self.message_user(
            request,
            ngettext("%(count)d webhook marqué comme ignoré.", "%(count)d webhooks marqués comme ignorés.", count)
            % {"count": count},
        )
