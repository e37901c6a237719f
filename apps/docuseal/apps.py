from django.apps import AppConfig


class DocusealConfig(AppConfig):
    name = "apps.docuseal"
    label = "docuseal"
    verbose_name = "DocuSeal"

    def ready(self):
        from apps.core import actions, live, providers, record_panels, scheduler
        from apps.docuseal import panels
        from apps.docuseal.actions import ACTIONS
        from apps.docuseal.provider import DocusealProvider

        providers.register(DocusealProvider())
        for action in ACTIONS:
            actions.register(action)
        for model, panel in panels.PANELS:
            record_panels.register(model, panel)
        live.register_group(panels.GROUP_PREFIX, panels.VIEW_PERMISSION)
        # A lost webhook still reaches the quote: pending submissions are read again every 5 minutes.
        scheduler.every(300, "apps.docuseal.jobs.run_reconcile", queue="sync", name="docuseal-reconcile")
