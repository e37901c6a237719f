from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = _("Console")

    def ready(self):
        from apps.core import live_feed, live_receivers
        from apps.core.capabilities import grant_model_permissions
        from apps.core.scheduler import every
        from apps.core.webhooks import checks, endpoints, schedule  # noqa: F401  (system check, periodic jobs)

        # Connected for every app's post_migrate: a system app's models get their view permission too.
        post_migrate.connect(grant_model_permissions, dispatch_uid="core.grant_model_permissions")
        live_receivers.connect()
        live_feed.connect()  # the console home's live webhook feed
        endpoints.connect()  # the inbox's per-process copies of connections follow their changes
        every(60, "apps.core.sync.resume_stale_runs", queue="sync", name="sync-resume-stale")
        every(15, "apps.core.actions.recover_stalled_runs", queue="default", name="actions-recovery")
