from django.apps import AppConfig


class RevolutConfig(AppConfig):
    name = "apps.revolut"
    label = "revolut"
    verbose_name = "Revolut Business"

    def ready(self):
        from apps.core import providers
        from apps.revolut.provider import RevolutProvider

        providers.register(RevolutProvider())
