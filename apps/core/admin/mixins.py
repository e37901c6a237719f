"""ContextualActionsAdmin: a hub model's admin gets the kernel's contextual pieces.

    @admin.register(Quote)
    class QuoteAdmin(ContextualActionsAdmin, admin.ModelAdmin):
        ...

On the change form: the action bar, the record panels and the timeline, after the form. In the list:
one admin action per registered action of the model, starting one run per selected object; actions
that confirm get Django's usual intermediate page first.
"""

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR, ActionLocation
from django.contrib.admin.options import Action as AdminAction
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from apps.core import actions
from apps.core.console import presenters
from apps.core.console.access import may_view_record
from apps.core.models import ActionRun

ACTION_PREFIX = "contextual:"
MAX_KEY_LENGTH = ActionRun._meta.get_field("idempotency_key").max_length


class ReadOnlyAdmin:
    """An audit trail or a mirror: nothing is added, edited or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ContextualActionsAdmin:
    view_on_site = False  # the record page is this change form; "Voir sur le site" would loop back to it
    change_form_template = "admin/core/contextual_change_form.html"
    contextual_confirmation_template = "admin/core/contextual_action_confirmation.html"

    def has_view_permission(self, request, obj=None):
        # The record's page follows the rule its action fragments and live socket follow.
        return may_view_record(request.user, self.model)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        found = super().get_actions(request, action_location=action_location)
        if self.actions is None or IS_POPUP_VAR in request.GET or action_location != ActionLocation.CHANGE_LIST:
            return found  # on the change form the action bar offers them, with confirmation and live status
        for action in actions.for_model(self.model):
            if actions.user_may_run(action, request.user):
                name = ACTION_PREFIX + action.key
                description = str(action.label).replace("%", "%%")  # the admin %-formats descriptions
                found[name] = AdminAction(
                    func=self._list_action(action), name=name, description=description,
                    plural_description=description, locations=[ActionLocation.CHANGE_LIST],
                )
        return found

    def _list_action(self, action):
        def run_for_selection(modeladmin, request, queryset):
            if action.confirm and request.POST.get("post") != "yes":
                return modeladmin._confirm_list_action(request, action, queryset)
            for obj in queryset:
                key = request.POST.get(f"key_{obj.pk}", "") if action.confirm else ""
                if not key or len(key) > MAX_KEY_LENGTH:
                    key = presenters.new_idempotency_key()
                modeladmin._start_one(request, action, obj, key)
            return None

        run_for_selection.__name__ = f"contextual_{action.key.replace('.', '_')}"
        return run_for_selection

    def _start_one(self, request, action, obj, key):
        try:
            run, created = actions.start(action, obj, request.user, key)
        except actions.ActionUnavailable as exc:
            messages.warning(request, _("« %(obj)s » : %(reason)s") % {"obj": obj, "reason": exc})
            return
        if not created:
            messages.info(request, _("« %(obj)s » : %(label)s déjà en cours ou déjà demandée.")
                          % {"obj": obj, "label": action.label})
        elif run.status == ActionRun.Status.PENDING_APPROVAL:
            messages.warning(request, _("« %(obj)s » : %(label)s en attente d'un second approbateur.")
                             % {"obj": obj, "label": action.label})
        else:
            messages.success(request, _("« %(obj)s » : %(label)s lancée.") % {"obj": obj, "label": action.label})

    def _confirm_list_action(self, request, action, queryset):
        rows = [
            {
                "obj": obj,
                "reason": action.unavailable_reason(obj, request.user),
                "details": action.confirmation_details(obj),
                "idempotency_key": presenters.new_idempotency_key(),
            }
            for obj in queryset
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": action.label,
            "subtitle": None,
            "action": action,
            "action_name": ACTION_PREFIX + action.key,
            "rows": rows,
            "any_available": any(row["reason"] is None for row in rows),
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.contextual_confirmation_template, context)
