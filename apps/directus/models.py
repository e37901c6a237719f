"""What the console keeps about its Directus mirror.

- `OutboxEntry`: one hub change to push, written in the same transaction as the change itself (hub
  post_save/post_delete receivers run inside the saving transaction), so a change is either stored with its
  entry or not at all. Entries carry a snapshot of the item; push.py sends the latest snapshot per item,
  in order, batched per collection, and retries failures with backoff. Nothing is deleted when Directus is
  down: entries wait, `pending`.
- `MirroredItem`: what the console last wrote for one item (the baseline a Directus edit is compared with)
  and the note shown in Directus after a refused edit.
- `DirectusItem`: the raw items read back (webhook or polling), through the kernel's sync engine.
- `StatusFacts`: integration facts that no hub field holds (signature state, reminder level), reported by
  other apps through the kernel signal `integration_status_reported`.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.models import ExternalRecord
from apps.directus.sandbox.state import (  # noqa: F401  (emulator tables, same app label)
    SandboxDirectusCollection,
    SandboxDirectusItem,
    SandboxDirectusProject,
    SandboxDirectusUser,
)


class OutboxEntry(models.Model):
    class Operation(models.TextChoices):
        UPSERT = "upsert", _("Création ou mise à jour")
        DELETE = "delete", _("Suppression")

    class Status(models.TextChoices):
        PENDING = "pending", _("En attente")
        SENT = "sent", _("Envoyé")
        SUPERSEDED = "superseded", _("Remplacé par une version plus récente")

    class Reason(models.TextChoices):
        HUB = "hub", _("Modification du hub")
        STATUS = "status", _("Statut d'intégration")
        RESTORE = "restore", _("Rétablissement après une modification refusée")
        RESYNC = "resync", _("Resynchronisation")

    connection = models.ForeignKey("core.Connection", on_delete=models.CASCADE, related_name="+",
                                   verbose_name=_("connexion"))
    collection = models.CharField(_("collection"), max_length=40)
    item_id = models.CharField(_("identifiant de l'élément"), max_length=64)
    operation = models.CharField(_("opération"), max_length=8, choices=Operation.choices)
    payload = models.JSONField(_("données"), default=dict, blank=True)
    reason = models.CharField(_("origine"), max_length=8, choices=Reason.choices, default=Reason.HUB)
    status = models.CharField(_("statut"), max_length=12, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("tentatives"), default=0)
    next_attempt_at = models.DateTimeField(_("prochaine tentative"), db_index=True)
    last_error = models.CharField(_("dernière erreur"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    sent_at = models.DateTimeField(_("envoyée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("écriture Directus en attente")
        verbose_name_plural = _("écritures Directus (file d'envoi)")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["connection", "status", "id"], name="directus_outbox_pending"),
            models.Index(fields=["connection", "collection", "item_id"], name="directus_outbox_item"),
        ]

    def __str__(self):
        return f"{self.collection}/{self.item_id} ({self.get_operation_display()})"


class MirroredItem(models.Model):
    connection = models.ForeignKey("core.Connection", on_delete=models.CASCADE, related_name="+",
                                   verbose_name=_("connexion"))
    collection = models.CharField(_("collection"), max_length=40)
    item_id = models.CharField(_("identifiant de l'élément"), max_length=64)
    version = models.CharField(_("version écrite"), max_length=64, blank=True)
    payload = models.JSONField(_("dernières valeurs écrites"), default=dict, blank=True)
    note = models.TextField(_("note affichée dans Directus"), blank=True)
    pushed_at = models.DateTimeField(_("écrit le"), null=True, blank=True)

    class Meta:
        verbose_name = _("élément miroir Directus")
        verbose_name_plural = _("éléments miroir Directus")
        constraints = [
            models.UniqueConstraint(fields=["connection", "collection", "item_id"], name="directus_mirrored_unique"),
        ]

    def __str__(self):
        return f"{self.collection}/{self.item_id}"


class DirectusItem(ExternalRecord):
    """An item as read from Directus; `external_id` is `<collection key>/<item id>`."""

    class Meta(ExternalRecord.Meta):
        verbose_name = _("élément lu dans Directus")
        verbose_name_plural = _("éléments lus dans Directus")


class StatusFacts(models.Model):
    record_type = models.CharField(_("type de dossier"), max_length=20)
    record_id = models.PositiveBigIntegerField(_("identifiant du dossier"))
    signature_state = models.CharField(_("état de la signature"), max_length=40, blank=True)
    reminder_level = models.PositiveSmallIntegerField(_("niveau de relance"), default=0)
    reported_by = models.CharField(_("signalé par"), max_length=32, blank=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("fait d'intégration")
        verbose_name_plural = _("faits d'intégration")
        constraints = [
            models.UniqueConstraint(fields=["record_type", "record_id"], name="directus_status_facts_unique"),
        ]
