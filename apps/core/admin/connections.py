"""Connections in the admin: health at a glance, write-only secrets, test and sync actions.

Viewing needs the model's view permission; adding, changing, deleting, testing and syncing also need
the capability `core.manage_connections`.
"""

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, gettext_lazy as _

from apps.core import encryption, providers, sync
from apps.core.connection_check import check_connection
from apps.core.forms import ConnectionForm, secret_field_names, stored
from apps.core.home import health_state
from apps.core.models import Connection

MANAGE_PERMISSION = "core.manage_connections"
HEALTH_FIELDS = (
    "health_badge", "last_ok_at", "last_error_at", "last_error", "consecutive_failures",
    "circuit_open_until", "token_status", "token_expires_at",
)


class HealthFilter(admin.SimpleListFilter):
    title = _("état")
    parameter_name = "sante"

    def lookups(self, request, model_admin):
        return [
            ("en_echec", _("En échec")),
            ("jamais_testee", _("Jamais testée")),
            ("operationnelle", _("Opérationnelle")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "en_echec":
            return queryset.filter(consecutive_failures__gt=0)
        if self.value() == "jamais_testee":
            return queryset.filter(last_ok_at__isnull=True, consecutive_failures=0)
        if self.value() == "operationnelle":
            return queryset.filter(last_ok_at__isnull=False, consecutive_failures=0, is_active=True)
        return queryset


class ProviderFilter(admin.SimpleListFilter):
    title = _("système")
    parameter_name = "systeme"

    def lookups(self, request, model_admin):
        return [(p.key, p.label) for p in providers.all_providers()]

    def queryset(self, request, queryset):
        return queryset.filter(provider=self.value()) if self.value() else queryset


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = (
        "name", "provider_label", "health_badge", "last_ok_at", "last_error_at", "consecutive_failures",
        "token_status", "is_active",
    )
    list_display_links = ("name",)
    list_filter = (ProviderFilter, HealthFilter, "is_active", "token_status")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    actions = ("test_connections", "sync_now")
    provider_choice_template = "admin/core/connection/provider_choice.html"

    class Media:
        css = {"all": ["core/status-badges.css"]}

    # Permissions ---------------------------------------------------------------------------------
    def has_manage_permission(self, request):
        return request.user.has_perm(MANAGE_PERMISSION)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and self.has_manage_permission(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.has_manage_permission(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.has_manage_permission(request)

    # Form ----------------------------------------------------------------------------------------
    def _editable(self, request, obj) -> bool:
        return self.has_change_permission(request, obj) if obj else self.has_add_permission(request)

    def get_fieldsets(self, request, obj=None):
        main = ["provider", "name", "slug", "base_url", "is_active"]
        if not self._editable(request, obj):
            # A read-only page renders model attributes, not inputs: show the masked values instead.
            return [
                (None, {"fields": main}),
                (_("Secrets"), {"fields": ["masked_secrets"]}),
                (_("Webhooks"), {"fields": ["webhook_url", "masked_webhook_secrets"]}),
                (_("Configuration"), {"fields": ["config"]}),
                (_("Santé"), {"fields": HEALTH_FIELDS}),
            ]
        provider = self._provider_for(request, obj)
        fieldsets = [(None, {"fields": main})]
        secret_fields = secret_field_names(obj or Connection(), provider)
        if secret_fields:
            fieldsets.append((_("Secrets"), {
                "fields": secret_fields,
                "description": _("Les valeurs enregistrées ne sont jamais réaffichées."),
            }))
        fieldsets.append((_("Webhooks"), {"fields": ["webhook_url", "new_webhook_secret", "remove_webhook_secrets"]}))
        fieldsets.append((_("Configuration"), {"fields": ["config"], "classes": ["collapse"]}))
        if obj:
            fieldsets.append((_("Santé"), {"fields": HEALTH_FIELDS}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return ["webhook_url", "masked_secrets", "masked_webhook_secrets", *HEALTH_FIELDS]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if self._editable(request, obj):
            # The secret inputs are not model fields: the form adds them itself, for the chosen provider.
            kwargs["fields"] = None
        return super().get_form(request, obj, change=change, **kwargs)

    def get_prepopulated_fields(self, request, obj=None):
        return self.prepopulated_fields if obj is None else {}

    def _provider_for(self, request, obj):
        key = obj.provider if obj else (request.POST.get("provider") or request.GET.get("provider"))
        try:
            return providers.get(key) if key else None
        except providers.UnknownProvider:
            return None

    def add_view(self, request, form_url="", extra_context=None):
        # The secret inputs depend on the system: choose it first, unless there is only one.
        if request.method == "GET" and not request.GET.get("provider") and self.has_add_permission(request):
            choices = providers.all_providers()
            if len(choices) != 1:
                context = {
                    **self.admin_site.each_context(request),
                    "title": gettext("Ajouter une connexion"),
                    "subtitle": None,
                    "opts": self.model._meta,
                    "providers": choices,
                }
                return TemplateResponse(request, self.provider_choice_template, context)
            request.GET = request.GET.copy()
            request.GET["provider"] = choices[0].key
        return super().add_view(request, form_url, extra_context)

    # Read-only displays --------------------------------------------------------------------------
    @admin.display(description=_("système"), ordering="provider")
    def provider_label(self, obj):
        try:
            return providers.for_connection(obj).label
        except providers.UnknownProvider:
            return obj.provider

    @admin.display(description=_("état"))
    def health_badge(self, obj):
        return format_html(
            '<span class="console-badge console-badge--{}">{}</span>', health_state(obj), obj.health_label
        )

    @admin.display(description=_("URL du webhook"))
    def webhook_url(self, obj):
        if not obj or not obj.pk:
            return gettext("Disponible après l'enregistrement.")
        return format_html("<code>{}</code>", obj.webhook_url())

    @admin.display(description=_("secrets"))
    def masked_secrets(self, obj):
        secrets, unreadable = stored(obj, "secrets", {}) if obj else ({}, "")
        if unreadable:
            return unreadable
        if not secrets:
            return "—"
        return format_html_join(
            "", "<div><code>{}</code> : {}</div>",
            ((name, encryption.mask(value) or "—") for name, value in sorted(secrets.items())),
        )

    @admin.display(description=_("secrets de webhook"))
    def masked_webhook_secrets(self, obj):
        webhook_secrets, unreadable = stored(obj, "webhook_secrets", []) if obj else ([], "")
        if unreadable:
            return unreadable
        if not webhook_secrets:
            return "—"
        return ", ".join(encryption.mask(secret) or "••••" for secret in webhook_secrets)

    # Actions -------------------------------------------------------------------------------------
    @admin.action(description=_("Tester la connexion"), permissions=["manage"])
    def test_connections(self, request, queryset):
        for connection in queryset:
            result = check_connection(connection)
            if result.ok:
                self.message_user(request, gettext("« %(name)s » : %(message)s")
                                  % {"name": connection.name, "message": result.message}, messages.SUCCESS)
            else:
                self.message_user(request, gettext("« %(name)s » : échec du test — %(message)s")
                                  % {"name": connection.name, "message": result.message}, messages.ERROR)

    @admin.action(description=_("Synchroniser maintenant"), permissions=["manage"])
    def sync_now(self, request, queryset):
        started = []
        for connection in queryset:
            try:
                resources = providers.for_connection(connection).sync_resources
            except providers.UnknownProvider as exc:
                self.message_user(request, gettext("« %(name)s » : %(error)s")
                                  % {"name": connection.name, "error": exc}, messages.ERROR)
                continue
            if not connection.is_active:
                self.message_user(request, gettext("« %(name)s » est désactivée : rien n'a été lancé.")
                                  % {"name": connection.name}, messages.WARNING)
                continue
            if not resources:
                self.message_user(request, gettext("« %(name)s » : aucune ressource à synchroniser.")
                                  % {"name": connection.name}, messages.WARNING)
                continue
            for resource in resources:
                run, created = sync.start_sync(connection, resource.name, user=request.user)
                url = reverse("core:sync_progress", args=[run.pk])
                if created:
                    started.append(run)
                    self.message_user(request, format_html(
                        '{} <a href="{}">{}</a>',
                        gettext("« %(name)s » : synchronisation de %(resource)s lancée.")
                        % {"name": connection.name, "resource": resource.label},
                        url, gettext("Suivre"),
                    ), messages.SUCCESS)
                else:
                    self.message_user(request, format_html(
                        '{} <a href="{}">{}</a>',
                        gettext("« %(name)s » : synchronisation de %(resource)s déjà en cours.")
                        % {"name": connection.name, "resource": resource.label},
                        url, gettext("Voir la synchronisation n° %(pk)s") % {"pk": run.pk},
                    ), messages.WARNING)
        if len(started) == 1:
            return HttpResponseRedirect(reverse("core:sync_progress", args=[started[0].pk]))
        return None
