from django.apps import AppConfig


class ERPNextConfig(AppConfig):
    name = "apps.erpnext"
    label = "erpnext"
    verbose_name = "ERPNext"

    def ready(self):
        from apps.core import providers, record_panels, scheduler
        from apps.erpnext import panels
        from apps.erpnext.provider import ERPNextProvider

        providers.register(ERPNextProvider())
        for model, panel in panels.PANELS:
            record_panels.register(model, panel)
        from apps.hub import search
        from apps.hub.models import Company

        search.register_external_ids(Company, "erpnext_links__party_name")  # the header search finds it by it
        # Webhooks are optional hints: the incremental sync reconciles every 5 minutes, and a full pass each
        # night catches what `modified` does not show (the overdue job, deletions).
        scheduler.every(300, "apps.erpnext.jobs.sync_incremental", queue="sync", name="erpnext-sync")
        scheduler.every(86400, "apps.erpnext.jobs.sync_full", queue="sync", name="erpnext-full-sync")
