from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HubConfig(AppConfig):
    name = "apps.hub"
    label = "hub"
    verbose_name = _("Dossiers")

    def ready(self):
        from apps.core import home_todo, record_live
        from apps.hub.models import Company, Invoice, Quote, SupplierBill
        from apps.hub.todo import overdue_invoices

        home_todo.register(overdue_invoices)

        # Record pages refresh their panels and buttons when the record changes, and show these fields live.
        record_live.watch(Company)
        record_live.watch(Quote, fields=("status",))
        record_live.watch(Invoice, fields=("status",))
        record_live.watch(SupplierBill, fields=("status", "paid_at"))
