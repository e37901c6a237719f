from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Operations: /metrics for Prometheus, the "Exploitation" page for people, the HTTP response counter.

    Its own app (not inside apps/core) because it only reads what the kernel and the systems store and
    never takes part in their work: core does not import it, and it can be left out of INSTALLED_APPS.
    """

    name = "apps.operations"
    label = "operations"
    verbose_name = "Exploitation"

    def ready(self):
        from django.db.models.signals import post_init, post_save, pre_save

        from apps.core.models import ActionRun, ApiCall, Connection, WebhookEvent
        from apps.operations import logs

        post_init.connect(logs.remember_connection_secrets, sender=Connection, dispatch_uid="ops-secrets-init")
        pre_save.connect(logs.remember_connection_secrets, sender=Connection, dispatch_uid="ops-secrets-save")
        post_save.connect(logs.log_webhook_stored, sender=WebhookEvent, dispatch_uid="ops-log-webhook")
        post_save.connect(logs.log_action_run, sender=ActionRun, dispatch_uid="ops-log-action-run")
        post_save.connect(logs.log_vendor_call, sender=ApiCall, dispatch_uid="ops-log-vendor-call")

        from django.conf import settings

        from apps.operations import sentry

        sentry.start(settings.SENTRY_DSN, environment=settings.SENTRY_ENVIRONMENT)
