"""What "Exporter en CSV" writes for the webhook log and the action runs.

Never the webhook body, headers or trace, nor a run's error detail or external ids: a list export leaves the
console by e-mail, and those may carry what a vendor sent (tokens, personal data) or what a stack trace shows.
"""

from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from import_export import resources
from import_export.fields import Field
from import_export.widgets import Widget

from apps.core.exports import DateTimeWidget
from apps.core.models import ActionRun, WebhookEvent


def column(model, name, attribute=None, widget=None, header=None):
    return Field(attribute=attribute or name, widget=widget or Widget(),
                 column_name=header or capfirst(model._meta.get_field(name).verbose_name))


class WebhookEventResource(resources.Resource):
    received_at = column(WebhookEvent, "received_at", widget=DateTimeWidget())
    provider = column(WebhookEvent, "provider")
    connection = column(WebhookEvent, "connection", attribute="connection__name")
    event_type = column(WebhookEvent, "event_type")
    status = column(WebhookEvent, "status", attribute="get_status_display")
    provider_event_id = column(WebhookEvent, "provider_event_id")
    attempts = column(WebhookEvent, "attempts")
    last_error = column(WebhookEvent, "last_error")
    processed_at = column(WebhookEvent, "processed_at", widget=DateTimeWidget())


class ActionRunResource(resources.Resource):
    created_at = column(ActionRun, "created_at", widget=DateTimeWidget())
    label = column(ActionRun, "label")
    action = column(ActionRun, "action")
    record = Field(column_name=capfirst(_("dossier")))
    user = column(ActionRun, "user", attribute="user__username")
    status = column(ActionRun, "status", attribute="get_status_display")
    message = column(ActionRun, "message")
    finished_at = column(ActionRun, "finished_at", widget=DateTimeWidget())

    def dehydrate_record(self, run):
        """The run's record as the list names it: "société n° 12"."""
        return _("%(kind)s n° %(id)s") % {"kind": run.content_type.name, "id": run.object_id}
