"""What the console keeps about DocuSeal: one signature request per quote sent for signature, its signers
and their statuses, and the signed documents archived in the console's own (private) storage.

The hub's Quote is not changed: its signature state lives here and is shown on the quote through a record
panel and the timeline. A quote that is signed becomes `accepted`, one that is declined `declined`.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.docuseal.sandbox.models import (  # noqa: F401  (the emulator's tables belong to this app)
    SandboxAccount,
    SandboxDelivery,
    SandboxSubmission,
    SandboxSubmitter,
    SandboxTemplate,
)
from apps.core.models import ExternalRecord
from apps.hub.models import Quote


class SignatureRequest(models.Model):
    """One DocuSeal submission created by the console for a quote."""

    class Status(models.TextChoices):
        PENDING = "pending", _("En attente de signature")
        COMPLETED = "completed", _("Signé")
        DECLINED = "declined", _("Refusé")
        EXPIRED = "expired", _("Expiré")
        ARCHIVED = "archived", _("Annulé")

    class Source(models.TextChoices):
        PDF = "pdf", _("PDF du devis")
        TEMPLATE = "template", _("Modèle d'acceptation")

    class ArchiveState(models.TextChoices):
        NOT_YET = "not_yet", _("En attente de la signature")
        ARCHIVED = "archived", _("Archivés")
        FAILED = "failed", _("Échec, nouvel essai prévu")

    connection = models.ForeignKey("core.Connection", on_delete=models.CASCADE, related_name="+",
                                   verbose_name=_("connexion"))
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="signature_requests",
                              verbose_name=_("devis"))
    submission_id = models.BigIntegerField(_("identifiant de la soumission DocuSeal"))
    status = models.CharField(_("statut"), max_length=10, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(_("document signé"), max_length=10, choices=Source.choices)
    template_id = models.BigIntegerField(_("modèle DocuSeal"), null=True, blank=True)
    decline_reason = models.TextField(_("motif du refus"), blank=True)
    archive_state = models.CharField(_("archivage des documents"), max_length=10, choices=ArchiveState.choices,
                                     default=ArchiveState.NOT_YET)
    archive_error = models.CharField(_("dernière erreur d'archivage"), max_length=500, blank=True)
    archive_attempts = models.PositiveSmallIntegerField(_("essais d'archivage"), default=0)
    created_at = models.DateTimeField(_("envoyé le"), auto_now_add=True)
    completed_at = models.DateTimeField(_("signé le"), null=True, blank=True)
    closed_at = models.DateTimeField(_("clos le"), null=True, blank=True)
    last_checked_at = models.DateTimeField(_("dernière vérification"), null=True, blank=True)

    class Meta:
        verbose_name = _("demande de signature")
        verbose_name_plural = _("demandes de signature")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "submission_id"], name="docuseal_unique_submission"),
        ]

    def __str__(self):
        return f"{self.quote} — {self.get_status_display()}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.PENDING


class Signer(models.Model):
    """One DocuSeal submitter of a request: a contact of the quote's client, in signing order."""

    class Status(models.TextChoices):
        AWAITING = "awaiting", _("En attente de son tour")
        SENT = "sent", _("Envoyé")
        OPENED = "opened", _("Ouvert")
        STARTED = "started", _("Commencé")
        COMPLETED = "completed", _("Signé")
        DECLINED = "declined", _("Refusé")
        EXPIRED = "expired", _("Expiré")

    # A status never goes back (a late form.viewed after form.completed changes nothing).
    RANK = {"awaiting": 0, "sent": 1, "opened": 2, "started": 3, "completed": 4, "declined": 4, "expired": 4}

    request = models.ForeignKey(SignatureRequest, on_delete=models.CASCADE, related_name="signers")
    submitter_id = models.BigIntegerField(_("identifiant du signataire DocuSeal"))
    order = models.PositiveSmallIntegerField(_("ordre de signature"), default=0)
    role = models.CharField(_("rôle"), max_length=120, blank=True)
    name = models.CharField(_("nom"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail"))
    status = models.CharField(_("statut"), max_length=10, choices=Status.choices, default=Status.SENT)
    signing_url = models.URLField(_("lien de signature"), max_length=500, blank=True)
    opened_at = models.DateTimeField(_("ouvert le"), null=True, blank=True)
    completed_at = models.DateTimeField(_("signé le"), null=True, blank=True)
    declined_at = models.DateTimeField(_("refusé le"), null=True, blank=True)
    decline_reason = models.TextField(_("motif du refus"), blank=True)

    class Meta:
        verbose_name = _("signataire")
        verbose_name_plural = _("signataires")
        ordering = ["order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "submitter_id"], name="docuseal_unique_submitter"),
        ]

    def __str__(self):
        return f"{self.name or self.email} ({self.get_status_display()})"


def archive_path(instance: SignedDocument, filename: str) -> str:
    return f"docuseal/{instance.request.quote_id}/{instance.request.submission_id}/{filename}"


class SignedDocument(models.Model):
    """A signed PDF (or DocuSeal's audit log) copied into the console's storage, served only by a checked view."""

    class Kind(models.TextChoices):
        DOCUMENT = "document", _("Document signé")
        AUDIT_LOG = "audit_log", _("Journal d'audit")

    request = models.ForeignKey(SignatureRequest, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.DOCUMENT)
    name = models.CharField(_("nom"), max_length=255)
    file = models.FileField(_("fichier"), upload_to=archive_path, max_length=500)
    size = models.PositiveIntegerField(_("taille (octets)"), default=0)
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)
    archived_at = models.DateTimeField(_("archivé le"), auto_now_add=True)

    class Meta:
        verbose_name = _("document signé archivé")
        verbose_name_plural = _("documents signés archivés")
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["request", "kind", "name"], name="docuseal_unique_archived_document"),
        ]

    def __str__(self):
        return self.name


class SubmissionMirror(ExternalRecord):
    """DocuSeal's submissions as last read by the sync (`connection sync <slug>`), raw payload kept."""

    status = models.CharField(_("statut"), max_length=12, blank=True)

    class Meta(ExternalRecord.Meta):
        verbose_name = _("soumission DocuSeal (miroir)")
        verbose_name_plural = _("soumissions DocuSeal (miroir)")
