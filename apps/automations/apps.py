from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationsConfig(AppConfig):
    name = "apps.automations"
    label = "automations"
    verbose_name = _("Automatisations")

    def ready(self):
        from django.apps import apps

        if apps.is_installed("apps.mautic") and apps.is_installed("apps.invoiceninja"):
            from apps.automations.payment_links import invoice_ninja_payment_link
            from apps.mautic import dunning

            if invoice_ninja_payment_link not in dunning.PAYMENT_LINK_RESOLVERS:
                dunning.PAYMENT_LINK_RESOLVERS.append(invoice_ninja_payment_link)
