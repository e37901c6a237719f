from django.apps import AppConfig


class InvoiceninjaConfig(AppConfig):
    name = "apps.invoiceninja"
    label = "invoiceninja"
    verbose_name = "Invoice Ninja"

    def ready(self):
        from apps.core import actions, providers, record_panels, scheduler
        from apps.invoiceninja import panels
        from apps.invoiceninja.actions import ACTIONS
        from apps.invoiceninja.provider import InvoiceNinjaProvider

        providers.register(InvoiceNinjaProvider())
        for action in ACTIONS:
            actions.register(action)
        for model, panel in panels.PANELS:
            record_panels.register(model, panel)
        # The header search finds a record by its Invoice Ninja id or number too.
        from apps.hub import search
        from apps.hub.models import Company, Invoice, Quote

        for model in (Company, Quote, Invoice):
            search.register_external_ids(model, "invoiceninja_links__external_id", "invoiceninja_links__number")
        # Quotes' and invoices' PDFs for other systems (DocuSeal asks for the quote's own PDF).
        from apps.invoiceninja import documents

        documents.register()
        # Webhooks are hints (Invoice Ninja never retries): the incremental sync reconciles every 5 minutes.
        scheduler.every(300, "apps.invoiceninja.jobs.sync_incremental", queue="sync", name="invoiceninja-sync")
