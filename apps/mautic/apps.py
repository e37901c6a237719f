from django.apps import AppConfig


class MauticConfig(AppConfig):
    name = "apps.mautic"
    label = "mautic"
    verbose_name = "Mautic"

    def ready(self):
        from apps.core import actions, providers, record_panels, scheduler
        from apps.mautic import panels, receivers
        from apps.mautic.actions import ACTIONS
        from apps.mautic.provider import MauticProvider

        providers.register(MauticProvider())
        for action in ACTIONS:
            actions.register(action)
        for model, panel in panels.PANELS:
            record_panels.register(model, panel)
        receivers.connect()
        # Webhooks are hints (Mautic never retries): contacts sync and activity reconciliation catch up.
        scheduler.every(300, "apps.mautic.jobs.sync_incremental", queue="sync", name="mautic-sync")
        scheduler.every(300, "apps.mautic.jobs.reconcile_activity", queue="default", name="mautic-activity")
        scheduler.every(3600, "apps.mautic.jobs.sync_all_segments", queue="default", name="mautic-segments")
