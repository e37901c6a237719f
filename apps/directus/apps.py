from django.apps import AppConfig


class DirectusConfig(AppConfig):
    name = "apps.directus"
    label = "directus"
    verbose_name = "Directus"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from apps.core import providers, record_panels, scheduler, signals
        from apps.directus import outbox, panels
        from apps.directus.provider import DirectusProvider
        from apps.directus.records import MODELS

        providers.register(DirectusProvider())
        for model, _prefix in MODELS.values():
            post_save.connect(outbox.hub_saved, sender=model, dispatch_uid=f"directus-saved-{model.__name__}")
            signals.created_in_bulk.connect(outbox.hub_created_in_bulk, sender=model,
                                            dispatch_uid=f"directus-created-{model.__name__}")
            post_delete.connect(outbox.hub_deleted, sender=model, dispatch_uid=f"directus-deleted-{model.__name__}")
        for model, panel in panels.PANELS:
            record_panels.register(model, panel)
        signals.integration_status_reported.connect(outbox.status_reported, dispatch_uid="directus-status")
        scheduler.every(15, "apps.directus.jobs.push_outbox", queue="sync", name="directus-push")
        # Flows never retry: polling on date_updated catches what a Flow missed.
        scheduler.every(60, "apps.directus.jobs.poll", queue="sync", name="directus-poll")
        scheduler.every(3600, "apps.directus.jobs.purge_sent", queue="default", name="directus-outbox-purge")
