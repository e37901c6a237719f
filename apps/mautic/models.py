"""What the console keeps about Mautic: contact mirrors and links, segment membership, reminders sent and
email activity. Hub models are never changed: every Mautic-specific fact lives here, keyed to hub rows.
"""

import hashlib
import json

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.models import ExternalRecord
from apps.hub.models import Contact, Invoice
from apps.mautic.sandbox.state import SandboxInstance, SandboxObject, SandboxToken  # noqa: F401  (sandbox tables)


class ContactMirror(ExternalRecord):
    """A Mautic contact as the API last returned it."""

    class Meta(ExternalRecord.Meta):
        verbose_name = _("contact Mautic")
        verbose_name_plural = _("contacts Mautic")


def hub_contact_hash(contact: Contact) -> str:
    values = [contact.email.strip().lower(), contact.first_name, contact.last_name, contact.phone]
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()


class ContactLink(models.Model):
    """One hub contact <-> one Mautic contact (matched by email, case-insensitive)."""

    connection = models.ForeignKey("core.Connection", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="mautic_links",
                                verbose_name=_("contact"))
    mautic_id = models.PositiveBigIntegerField(_("identifiant Mautic"), null=True, blank=True)
    email = models.CharField(_("e-mail"), max_length=254)
    # Do-not-contact state as Mautic last told us (webhook, sync or the pre-send check).
    unsubscribed = models.BooleanField(_("désinscrit"), default=False)
    bounced = models.BooleanField(_("adresse en erreur (bounce)"), default=False)
    do_not_contact = models.BooleanField(_("ne pas contacter"), default=False)
    deleted_in_mautic = models.BooleanField(_("supprimé dans Mautic"), default=False)
    # What each side looked like when they were last made equal (the conflict rule, README).
    hub_hash = models.CharField(_("empreinte du contact du hub"), max_length=64, blank=True)
    remote_modified = models.CharField(_("version Mautic reflétée"), max_length=40, blank=True)
    last_synced_at = models.DateTimeField(_("dernière synchronisation"), null=True, blank=True)
    # High-water mark of the activity API already read by the reconciliation job.
    activity_checked_at = models.DateTimeField(_("activité relue jusqu'au"), null=True, blank=True)
    last_error = models.CharField(_("dernière erreur"), max_length=500, blank=True)
    conflict_at = models.DateTimeField(_("conflit détecté le"), null=True, blank=True)
    conflict_detail = models.CharField(_("conflit"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("lien contact Mautic")
        verbose_name_plural = _("liens contacts Mautic")
        constraints = [
            models.UniqueConstraint(fields=["connection", "contact"], name="mautic_contactlink_unique_contact"),
            models.UniqueConstraint(fields=["connection", "mautic_id"], name="mautic_contactlink_unique_remote"),
        ]

    def __str__(self):
        return f"{self.email} (Mautic #{self.mautic_id or '—'})"

    @property
    def refusal_reason(self) -> str | None:
        """Why no email may go to this contact, in French, or None."""
        if self.unsubscribed:
            return str(_("le contact s'est désinscrit des e-mails dans Mautic"))
        if self.bounced:
            return str(_("l'adresse du contact est en erreur (bounce) dans Mautic"))
        if self.do_not_contact:
            return str(_("le contact est marqué « ne pas contacter » dans Mautic"))
        return None

    def has_local_changes(self) -> bool:
        return self.hub_hash != hub_contact_hash(self.contact)

    def mark_in_step(self, remote: dict | None = None):
        self.hub_hash = hub_contact_hash(self.contact)
        if remote is not None:
            self.remote_modified = str(remote.get("dateModified") or remote.get("dateAdded") or "")
        self.last_synced_at = timezone.now()
        self.conflict_at = None
        self.conflict_detail = ""
        self.last_error = ""
        self.deleted_in_mautic = False


class SegmentMembership(models.Model):
    """A linked contact's membership of one of the console's segments, as last pushed to Mautic."""

    link = models.ForeignKey(ContactLink, on_delete=models.CASCADE, related_name="segments")
    segment = models.CharField(_("segment"), max_length=60)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("appartenance à un segment Mautic")
        verbose_name_plural = _("appartenances aux segments Mautic")
        constraints = [models.UniqueConstraint(fields=["link", "segment"], name="mautic_segment_unique")]

    def __str__(self):
        return f"{self.link.email} ∈ {self.segment}"


class ReminderSend(models.Model):
    """One reminder level sent (or being sent) for one invoice. Unique per (invoice, level): never twice."""

    class Status(models.TextChoices):
        SENDING = "sending", _("Envoi en cours")
        SENT = "sent", _("Envoyée")
        FAILED = "failed", _("Échec")

    connection = models.ForeignKey("core.Connection", on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="mautic_reminders",
                                verbose_name=_("facture"))
    level = models.PositiveSmallIntegerField(_("niveau de relance"))
    link = models.ForeignKey(ContactLink, null=True, on_delete=models.SET_NULL, related_name="reminders")
    email_id = models.PositiveBigIntegerField(_("e-mail Mautic"))
    action_run_id = models.PositiveBigIntegerField(_("action"), null=True, blank=True)
    status = models.CharField(_("statut"), max_length=10, choices=Status.choices, default=Status.SENDING)
    tokens = models.JSONField(_("jetons"), default=dict, blank=True)
    error = models.CharField(_("erreur"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("demandée le"), auto_now_add=True)
    sent_at = models.DateTimeField(_("envoyée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("relance Mautic")
        verbose_name_plural = _("relances Mautic")
        ordering = ["invoice", "level"]
        constraints = [models.UniqueConstraint(fields=["invoice", "level"], name="mautic_reminder_once_per_level")]

    def __str__(self):
        return f"{self.invoice} — {self.level}"


class DunningStop(models.Model):
    """An invoice whose dunning ended (paid or cancelled in the hub): no further reminder."""

    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="mautic_dunning_stop")
    reason = models.CharField(_("raison"), max_length=200)
    stopped_at = models.DateTimeField(_("arrêtée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("relances arrêtées")
        verbose_name_plural = _("relances arrêtées")


class EmailActivity(models.Model):
    """One send, open, click, bounce or unsubscribe reported by Mautic (webhook or activity API)."""

    class Kind(models.TextChoices):
        SENT = "sent", _("Envoi")
        OPENED = "opened", _("Ouverture")
        CLICKED = "clicked", _("Clic")
        BOUNCED = "bounced", _("Rebond (bounce)")
        UNSUBSCRIBED = "unsubscribed", _("Désinscription")

    class Source(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook")
        RECONCILIATION = "reconciliation", _("Rattrapage (API d'activité)")

    connection = models.ForeignKey("core.Connection", on_delete=models.CASCADE, related_name="+")
    # The same real-world event has the same key whether a webhook or the activity API reported it.
    key = models.CharField(_("clé"), max_length=200)
    kind = models.CharField(_("type"), max_length=14, choices=Kind.choices)
    mautic_contact_id = models.PositiveBigIntegerField(_("contact Mautic"))
    link = models.ForeignKey(ContactLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="activity")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="mautic_email_activity")
    email_id = models.PositiveBigIntegerField(_("e-mail Mautic"), null=True, blank=True)
    subject = models.CharField(_("objet"), max_length=300, blank=True)
    detail = models.CharField(_("détail"), max_length=500, blank=True)
    occurred_at = models.DateTimeField(_("date"))
    source = models.CharField(_("source"), max_length=14, choices=Source.choices)
    recorded_at = models.DateTimeField(_("enregistré le"), auto_now_add=True)

    class Meta:
        verbose_name = _("activité e-mail Mautic")
        verbose_name_plural = _("activité e-mail Mautic")
        ordering = ["-occurred_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["connection", "key"], name="mautic_activity_unique_key")]

    def __str__(self):
        return f"{self.get_kind_display()} — {self.occurred_at:%Y-%m-%d %H:%M}"
