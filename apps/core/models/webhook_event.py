from django.db import models
from django.utils.translation import gettext_lazy as _


class WebhookEvent(models.Model):
    """One delivery received on /hooks/, stored before it is acknowledged."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Reçu")
        QUEUED = "queued", _("En file")
        PROCESSING = "processing", _("En traitement")
        PROCESSED = "processed", _("Traité")
        FAILED = "failed", _("Échec")
        IGNORED = "ignored", _("Ignoré")
        DUPLICATE = "duplicate", _("Doublon")
        REJECTED = "rejected", _("Rejeté")

    connection = models.ForeignKey(
        "core.Connection", on_delete=models.CASCADE, related_name="webhook_events", verbose_name=_("connexion")
    )
    provider = models.CharField(_("système"), max_length=32)
    event_type = models.CharField(_("type d'événement"), max_length=120, blank=True)
    # The vendor's event id, or a key derived from the payload where the vendor sends none.
    provider_event_id = models.CharField(_("identifiant d'événement"), max_length=255, blank=True)
    status = models.CharField(_("statut"), max_length=12, choices=Status.choices, default=Status.RECEIVED)
    body = models.BinaryField(_("corps brut"))
    headers = models.JSONField(_("en-têtes (masqués)"), default=dict)
    remote_addr = models.GenericIPAddressField(_("adresse source"), null=True, blank=True)
    received_at = models.DateTimeField(_("reçu le"), auto_now_add=True)
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    last_error = models.CharField(_("dernière erreur"), max_length=500, blank=True)
    traceback = models.TextField(_("trace"), blank=True)
    processed_at = models.DateTimeField(_("traité le"), null=True, blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates",
        verbose_name=_("doublon de"),
    )
    # On the original: how many redeliveries came after it (their rows keep headers and time, not the body).
    duplicate_count = models.PositiveIntegerField(_("redélivrances"), default=0)
    last_duplicate_at = models.DateTimeField(_("dernière redélivrance le"), null=True, blank=True)
    # The delivery request's, carried by its job (apps.core.webhooks.dispatch) so their log lines join.
    correlation_id = models.CharField(_("identifiant de corrélation"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("webhook reçu")
        verbose_name_plural = _("webhooks reçus")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-received_at"], name="webhook_status_received"),
            models.Index(fields=["connection", "-received_at"], name="webhook_conn_received"),
            models.Index(fields=["provider_event_id"], name="webhook_provider_event_id"),
        ]
        constraints = [
            # One effective delivery per event: redeliveries are stored as `duplicate` rows.
            models.UniqueConstraint(
                fields=["connection", "provider_event_id"],
                condition=~models.Q(status__in=["duplicate", "rejected"]) & ~models.Q(provider_event_id=""),
                name="webhook_unique_event_per_connection",
            ),
        ]

    def __str__(self):
        return f"{self.provider}:{self.event_type or '?'} #{self.pk}"

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")
