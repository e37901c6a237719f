from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class TimelineEntry(models.Model):
    """Something that happened to a hub record outside a click: a webhook, a sync, a state change."""

    class Level(models.TextChoices):
        INFO = "info", _("Information")
        SUCCESS = "success", _("Succès")
        WARNING = "warning", _("Attention")
        ERROR = "error", _("Erreur")

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, verbose_name=_("type de dossier"))
    object_id = models.CharField(_("identifiant du dossier"), max_length=64)
    target = GenericForeignKey("content_type", "object_id")
    provider = models.CharField(_("système"), max_length=32, blank=True)
    level = models.CharField(_("niveau"), max_length=8, choices=Level.choices, default=Level.INFO)
    message = models.CharField(_("message"), max_length=500)
    external_ids = models.JSONField(_("identifiants externes"), default=dict, blank=True)
    webhook_event = models.ForeignKey(
        "core.WebhookEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("date"), auto_now_add=True)

    class Meta:
        verbose_name = _("événement de suivi")
        verbose_name_plural = _("événements de suivi")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-created_at"], name="timeline_target")]

    def __str__(self):
        return self.message

    @classmethod
    def record(cls, obj, message, *, provider="", level=Level.INFO, external_ids=None, webhook_event=None):
        entry = cls.unsaved(obj, message, provider=provider, level=level, external_ids=external_ids,
                            webhook_event=webhook_event)
        entry.save(force_insert=True)
        return entry

    @classmethod
    def unsaved(cls, obj, message, *, provider="", level=Level.INFO, external_ids=None, webhook_event=None):
        """The entry `record` would write, for a caller that inserts a page of them at once."""
        return cls(
            content_type=ContentType.objects.get_for_model(obj),
            object_id=str(obj.pk),
            provider=provider,
            level=level,
            message=message[:500],
            external_ids=external_ids or {},
            webhook_event=webhook_event,
        )
