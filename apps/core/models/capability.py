from django.db import models
from django.utils.translation import gettext_lazy as _


class Capability(models.Model):
    """Carrier of the console's capability permissions ("core.pay_suppliers", ...); no table.

    Each permission has a group of the same purpose, created by migration 0002 (see apps/core/capabilities.py).
    """

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = _("capacité")
        verbose_name_plural = _("capacités")
        permissions = [
            ("view_console", _("Consulter la console")),
            ("manage_connections", _("Gérer les connexions")),
            ("replay_webhooks", _("Rejouer les webhooks")),
            ("send_documents", _("Envoyer les devis et factures")),
            ("send_emails", _("Envoyer les e-mails")),
            ("pay_suppliers", _("Payer les fournisseurs")),
            ("approve_payments", _("Approuver les paiements")),
            ("view_balances", _("Consulter les soldes")),
            ("operate_queues", _("Exploiter les files de tâches")),
        ]
