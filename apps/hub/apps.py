from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HubConfig(AppConfig):
    name = "apps.hub"
    label = "hub"
    verbose_name = _("Dossiers")

    def ready(self):
        from apps.core import record_live
        from apps.hub.models import Company, Invoice, Quote, SupplierBill

        # Record pages refresh their panels and buttons when the record changes, and show these fields live.
        record_live.watch(Company)
        record_live.watch(Quote, fields=("status",))
        record_live.watch(Invoice, fields=("status",))
        record_live.watch(SupplierBill, fields=("status", "paid_at"))
