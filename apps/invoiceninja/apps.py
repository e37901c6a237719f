from django.apps import AppConfig


class InvoiceninjaConfig(AppConfig):
    name = "apps.invoiceninja"
    label = "invoiceninja"
    verbose_name = "Invoice Ninja"

    def ready(self):
        from apps.core import providers
        from apps.invoiceninja.provider import InvoiceNinjaProvider

        providers.register(InvoiceNinjaProvider())
