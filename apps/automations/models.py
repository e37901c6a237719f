"""What the automations keep: a row per rule (on/off, switched from the admin without deploying), a chain per
cause and subject (the signed quote, the paid invoice) whose steps are ActionRuns, and the incoming bank
credits that wait to be matched by a person ("à rapprocher")."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class Rule(models.Model):
    key = models.CharField(_("clé"), max_length=60, unique=True)
    enabled = models.BooleanField(_("active"), default=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("modifiée par"))
    changed_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("automatisation")
        verbose_name_plural = _("automatisations")
        ordering = ["key"]
        permissions = [("switch_rule", _("Activer ou désactiver une automatisation"))]

    def __str__(self):
        from apps.automations.rules import RULES

        rule = RULES.get(self.key)
        return str(rule.label) if rule else self.key


class Chain(models.Model):
    """One run of a rule for one subject; its steps are the ActionRuns keyed `auto:<chain>:<step>:<attempt>`."""

    class Status(models.TextChoices):
        RUNNING = "running", _("En cours")
        WAITING = "waiting", _("En attente")
        SUCCEEDED = "succeeded", _("Terminée")
        FAILED = "failed", _("Échec définitif")
        # Its cause arrived while the rule was switched off: nothing ran; a user may run it now.
        SKIPPED = "skipped", _("Ignorée (automatisation désactivée)")

    rule = models.CharField(_("automatisation"), max_length=60, db_index=True)
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, verbose_name=_("type de dossier"))
    object_id = models.CharField(_("identifiant du dossier"), max_length=64)
    subject = GenericForeignKey("content_type", "object_id")
    cause_event = models.ForeignKey("core.WebhookEvent", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("webhook à l'origine"))
    cause = models.CharField(_("cause"), max_length=300)
    status = models.CharField(_("statut"), max_length=12, choices=Status.choices, default=Status.RUNNING,
                              db_index=True)
    step = models.CharField(_("étape en cours"), max_length=40, blank=True)
    waiting_for = models.CharField(_("en attente de"), max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(_("tentatives de l'étape"), default=0)
    next_attempt_at = models.DateTimeField(_("prochaine tentative"), null=True, blank=True)
    last_error = models.CharField(_("dernière erreur"), max_length=500, blank=True)
    context = models.JSONField(_("données"), default=dict, blank=True)
    created_at = models.DateTimeField(_("démarrée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("enchaînement automatique")
        verbose_name_plural = _("enchaînements automatiques")
        ordering = ["-created_at", "-id"]
        constraints = [
            # A replayed webhook or a second save finds the chain already there: nothing is redone.
            models.UniqueConstraint(fields=["rule", "content_type", "object_id"], name="automation_chain_once"),
        ]
        permissions = [("relaunch_chain", _("Relancer une automatisation en échec ou ignorée"))]

    def __str__(self):
        return f"{self.rule} #{self.object_id} ({self.get_status_display()})"


class BankCredit(models.Model):
    """An incoming Revolut transfer seen by the matching rules, and what became of it."""

    class Status(models.TextChoices):
        TO_MATCH = "to_match", _("À rapprocher")
        MATCHED = "matched", _("Rapproché automatiquement")
        CONFIRMED = "confirmed", _("Rapproché par un utilisateur")
        DISMISSED = "dismissed", _("Écarté")

    transaction = models.OneToOneField("revolut.RevolutTransaction", on_delete=models.CASCADE, related_name="+",
                                       verbose_name=_("transaction Revolut"))
    amount = models.DecimalField(_("montant"), max_digits=18, decimal_places=2)
    currency = models.CharField(_("devise"), max_length=3)
    reference = models.CharField(_("référence"), max_length=140, blank=True)
    payer = models.CharField(_("payeur"), max_length=200, blank=True)
    status = models.CharField(_("statut"), max_length=10, choices=Status.choices, db_index=True)
    invoice = models.ForeignKey("hub.Invoice", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", verbose_name=_("facture"))
    candidates = models.ManyToManyField("hub.Invoice", blank=True, related_name="+",
                                        verbose_name=_("factures possibles"))
    reason = models.CharField(_("motif"), max_length=300, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("décidé par"))
    created_at = models.DateTimeField(_("reçu le"), auto_now_add=True)

    class Meta:
        verbose_name = _("encaissement Revolut")
        verbose_name_plural = _("encaissements Revolut")
        ordering = ["-created_at", "-id"]
        permissions = [("match_credit", _("Rapprocher un encaissement d'une facture"))]

    def __str__(self):
        return f"{self.amount} {self.currency} — {self.reference or self.payer}"
