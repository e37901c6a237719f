from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Console"

    def ready(self):
        from apps.core.capabilities import grant_model_permissions

        # Connected for every app's post_migrate: a system app's models get their view permission too.
        post_migrate.connect(grant_model_permissions, dispatch_uid="core.grant_model_permissions")
        from apps.core.webhooks import checks, schedule  # noqa: F401  (system check, periodic jobs)
        from apps.core import live_receivers

        live_receivers.connect()
        from apps.core import live_feed

        live_feed.connect()  # the console home's live webhook feed
        self.schedule_sync_jobs()

    def schedule_sync_jobs(self):
        import importlib.util

        # Written by another part of the kernel; without it, stale runs are only resumed by hand.
        if importlib.util.find_spec("apps.core.scheduler") is None:
            return
        from apps.core.scheduler import every

        every(60, "apps.core.sync.resume_stale_runs", queue="sync", name="sync-resume-stale")
