from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HubConfig(AppConfig):
    name = "apps.hub"
    label = "hub"
    verbose_name = _("Dossiers")

    def ready(self):
        from apps.core import home_todo, record_history, record_live
        from apps.hub import models
        from apps.hub.todo import overdue_invoices

        home_todo.register(overdue_invoices)

        # Record pages refresh their panels and buttons when the record changes, and show these fields live.
        record_live.watch(models.Company)
        record_live.watch(models.Quote, fields=("status",))
        record_live.watch(models.Invoice, fields=("status",))
        record_live.watch(models.SupplierBill, fields=("status", "paid_at"))

        document = {"hidden_fields": ("lines_reopened_at",)}  # "Nouvelle version" has its own timeline entry
        line = {"money_fields": ("unit_price",), "hidden_fields": ("position",)}
        record_history.track(models.Company)
        record_history.track(models.Contact)
        record_history.track(models.Quote, money_fields=("subtotal", "tax_total", "total"),
                             children=((models.QuoteLine, "quote"),), **document)
        record_history.track(models.Invoice, money_fields=("subtotal", "tax_total", "total", "amount_paid"),
                             children=((models.InvoiceLine, "invoice"),), **document)
        record_history.track(models.QuoteLine, **line)
        record_history.track(models.InvoiceLine, **line)
        record_history.track(models.SupplierBill, money_fields=("amount",))
        record_history.track(models.Payment, money_fields=("amount",))
