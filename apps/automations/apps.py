"""Cross-system reactions (a signed quote converted to an invoice, reminders stopped when it is paid...).

The only place where two system apps meet. triggers.py: what starts a chain (DocuSeal signature closed, Revolut
credit landed); chains.py: running a rule's steps exactly once through the system apps' actions; matching.py:
incoming credits matched to invoices; payment_links.py: Mautic reminders carry Invoice Ninja's payment link.
(Reminders stopping when an invoice is paid needs nothing here: Mautic reacts to the hub invoice.)
"""
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationsConfig(AppConfig):
    name = "apps.automations"
    label = "automations"
    verbose_name = _("Automatisations")

    def ready(self):
        from django.apps import apps

        from apps.automations import panels, triggers
        from apps.core import record_panels, scheduler
        from apps.hub.models import Invoice, Quote

        triggers.connect()
        record_panels.register(Quote, panels.PANEL)
        record_panels.register(Invoice, panels.PANEL)
        scheduler.every(60, "apps.automations.chains.resume_due", queue="default", name="automations-resume")
        if apps.is_installed("apps.mautic") and apps.is_installed("apps.invoiceninja"):
            from apps.automations.payment_links import invoice_ninja_payment_link
            from apps.mautic import dunning

            if invoice_ninja_payment_link not in dunning.PAYMENT_LINK_RESOLVERS:
                dunning.PAYMENT_LINK_RESOLVERS.append(invoice_ninja_payment_link)
