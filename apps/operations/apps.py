from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Operations: /metrics for Prometheus, the "Exploitation" page for people, the HTTP response counter.

    Its own app (not inside apps/core) because it only reads what the kernel and the systems store and
    never takes part in their work: core does not import it, and it can be left out of INSTALLED_APPS.
    """

    name = "apps.operations"
    label = "operations"
    verbose_name = "Exploitation"
