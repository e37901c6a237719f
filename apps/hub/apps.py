from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HubConfig(AppConfig):
    name = "apps.hub"
    label = "hub"
    verbose_name = _("Dossiers")

    def ready(self):
        from apps.core import home_todo
        from apps.hub.todo import overdue_invoices

        home_todo.register(overdue_invoices)
