from django.apps import AppConfig


class RevolutConfig(AppConfig):
    name = "apps.revolut"
    label = "revolut"
    verbose_name = "Revolut Business"

    def ready(self):
        from apps.core import live, providers, record_panels, scheduler
        from apps.core.signals import action_run_changed
        from apps.hub.models import SupplierBill
        from apps.revolut import actions, payments, views  # noqa: F401  (actions register themselves)
        from apps.revolut.provider import RevolutProvider

        providers.register(RevolutProvider())
        live.register_group("revolut.balances", "core.view_balances")
        scheduler.every(60, "apps.revolut.jobs.refresh_balances", queue="default", name="revolut-balances")
        scheduler.every(300, "apps.revolut.jobs.reconcile_transactions", queue="sync", name="revolut-transactions")
        action_run_changed.connect(payments.on_action_run_changed, dispatch_uid="revolut.bill_status_on_approval")
        record_panels.register(SupplierBill, views.BILL_PANEL)
        from apps.hub import search

        # The header search finds a bill by its Revolut transaction or request id.
        search.register_external_ids(SupplierBill, "revolut_payments__transaction_id", "revolut_payments__request_id")
