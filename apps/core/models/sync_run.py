from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SyncRun(models.Model):
    """One pass of pulling a resource from a vendor into the console, resumable from its checkpoint."""

    class Kind(models.TextChoices):
        INCREMENTAL = "incremental", _("Incrémentale")
        FULL = "full", _("Complète")

    class Status(models.TextChoices):
        QUEUED = "queued", _("En file")
        RUNNING = "running", _("En cours")
        SUCCEEDED = "succeeded", _("Terminée")
        FAILED = "failed", _("Échec")
        STALE = "stale", _("Interrompue")

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)

    connection = models.ForeignKey(
        "core.Connection", on_delete=models.CASCADE, related_name="sync_runs", verbose_name=_("connexion")
    )
    resource = models.CharField(_("ressource"), max_length=64)
    kind = models.CharField(_("type"), max_length=12, choices=Kind.choices, default=Kind.INCREMENTAL)
    status = models.CharField(_("statut"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    checkpoint = models.JSONField(_("point de reprise"), default=dict, blank=True)
    pages = models.PositiveIntegerField(_("pages"), default=0)
    added = models.PositiveIntegerField(_("ajoutés"), default=0)
    updated = models.PositiveIntegerField(_("mis à jour"), default=0)
    unchanged = models.PositiveIntegerField(_("inchangés"), default=0)
    deleted = models.PositiveIntegerField(_("supprimés"), default=0)
    failed = models.PositiveIntegerField(_("en échec"), default=0)
    error = models.TextField(_("erreur"), blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("lancée par"),
    )
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    started_at = models.DateTimeField(_("démarrée le"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("dernier signe de vie"), null=True, blank=True)
    finished_at = models.DateTimeField(_("terminée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("synchronisation")
        verbose_name_plural = _("synchronisations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "resource"],
                condition=models.Q(status__in=["queued", "running"]),
                name="syncrun_single_flight",
            ),
        ]
        indexes = [models.Index(fields=["connection", "resource", "-created_at"], name="syncrun_conn_res")]

    def __str__(self):
        return f"{self.connection.slug}/{self.resource} #{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    def counts(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
        }
