from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy as _

from apps.core.numbers import format_money


def _stored_param(value):
    """A parameter as kept: a translatable label (a status, a level) as its French source, translated when read."""
    if isinstance(value, Promise):
        with translation.override(None):
            return {"msgid": str(value)}
    return value if isinstance(value, int | float | bool | dict | type(None)) else str(value)


def _read_param(value):
    if isinstance(value, dict) and "msgid" in value:
        return gettext(value["msgid"])
    if isinstance(value, dict) and "amount" in value:
        return format_money(value["amount"], value.get("currency") or "EUR")
    return value


class TimelineEntry(models.Model):
    """Something that happened to a hub record outside a click: a webhook, a sync, a state change."""

    # `provider` of what no person did: an automation reacting to its cause (the entry's webhook_event).
    AUTOMATIC = "automatique"

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
    # Written out in the language of whoever caused the entry; entries recorded with `params` are read
    # through `text` instead, in the reader's language (older rows have no message id and keep `message`).
    message = models.CharField(_("message"), max_length=500)
    message_id = models.TextField(_("message source"), blank=True, editable=False)
    message_params = models.JSONField(_("paramètres du message"), default=dict, blank=True, editable=False)
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
        return self.text

    @property
    def text(self) -> str:
        """The entry in the active language: its message source translated now, or the stored message."""
        if not self.message_id:
            return self.message
        params = {name: _read_param(value) for name, value in (self.message_params or {}).items()}
        try:
            return gettext(self.message_id) % params if params else gettext(self.message_id)
        except (KeyError, TypeError, ValueError):  # a catalogue whose placeholders drifted: never a 500
            return self.message

    @staticmethod
    def money(amount, currency) -> dict:
        """A parameter that reads as an amount in the reader's format ("1 200,40 €", "€1,200.40")."""
        return {"amount": str(amount), "currency": currency}

    @classmethod
    def record(cls, obj, message, *, params=None, provider="", level=Level.INFO, external_ids=None,
               webhook_event=None):
        """`message` is either text already written out, or, with `params` (a dict, possibly empty), the French
        source of a catalogue message (marked with gettext_noop) that each reader sees in their own language."""
        entry = cls.unsaved(obj, message, params=params, provider=provider, level=level, external_ids=external_ids,
                            webhook_event=webhook_event)
        entry.save(force_insert=True)
        return entry

    @classmethod
    def unsaved(cls, obj, message, *, params=None, provider="", level=Level.INFO, external_ids=None,
                webhook_event=None):
        """The entry `record` would write, for a caller that inserts a page of them at once."""
        message_id, stored_params = "", {}
        if params is not None:
            with translation.override(None):  # a lazy message gives its source, not the writer's language
                message_id = str(message)
            stored_params = {name: _stored_param(value) for name, value in params.items()}
            shown = {name: _read_param(value) for name, value in stored_params.items()}
            message = gettext(message_id) % shown if shown else gettext(message_id)
        return cls(
            content_type=ContentType.objects.get_for_model(obj),
            object_id=str(obj.pk),
            provider=provider,
            level=level,
            message=str(message)[:500],
            message_id=message_id,
            message_params=stored_params,
            external_ids=external_ids or {},
            webhook_event=webhook_event,
        )
