from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class ActionRun(models.Model):
    """One click on a contextual action, with who, what, when and how it ended."""

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", _("En attente d'approbation")
        RUNNING = "running", _("En cours")
        SUCCEEDED = "succeeded", _("Réussie")
        FAILED = "failed", _("Échec")
        REFUSED = "refused", _("Refusée")

    action = models.CharField(_("action"), max_length=80, db_index=True)
    label = models.CharField(_("libellé"), max_length=200)
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, verbose_name=_("type de dossier"))
    object_id = models.CharField(_("identifiant du dossier"), max_length=64)
    target = GenericForeignKey("content_type", "object_id")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("utilisateur")
    )
    # One key per rendered button: a double click or a retried POST finds the same run.
    idempotency_key = models.CharField(_("clé d'idempotence"), max_length=64, unique=True)
    status = models.CharField(_("statut"), max_length=20, choices=Status.choices, default=Status.RUNNING)
    message = models.CharField(_("message"), max_length=500, blank=True)
    error = models.TextField(_("erreur"), blank=True)
    external_ids = models.JSONField(_("identifiants externes"), default=dict, blank=True)
    created_at = models.DateTimeField(_("lancée le"), auto_now_add=True)
    finished_at = models.DateTimeField(_("terminée le"), null=True, blank=True)
    # Recovery (apps.core.actions.recover_stalled_runs): when its job was last put in the queue, when a worker
    # took it, the worker's last sign of life while it runs, and how many times a worker took it.
    queued_at = models.DateTimeField(_("mise en file le"), null=True, blank=True)
    started_at = models.DateTimeField(_("démarrée le"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("dernier signe de vie"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)

    class Meta:
        verbose_name = _("action exécutée")
        verbose_name_plural = _("actions exécutées")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-created_at"], name="actionrun_target")]

    def __str__(self):
        return f"{self.label} ({self.get_status_display()})"
