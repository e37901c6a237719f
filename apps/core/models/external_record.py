import hashlib
import json

from django.db import models
from django.utils.translation import gettext_lazy as _


class ExternalRecord(models.Model):
    """Abstract mirror of one vendor object, keyed by (connection, external id).

    The raw payload is kept; `content_hash` lets the sync engine skip rows that did not change.
    """

    connection = models.ForeignKey(
        "core.Connection", on_delete=models.CASCADE, related_name="+", verbose_name=_("connexion")
    )
    external_id = models.CharField(_("identifiant externe"), max_length=128)
    payload = models.JSONField(_("données brutes"), default=dict)
    content_hash = models.CharField(max_length=64, editable=False)
    remote_updated_at = models.DateTimeField(_("modifié chez le fournisseur"), null=True, blank=True)
    is_deleted = models.BooleanField(_("supprimé chez le fournisseur"), default=False)
    synced_at = models.DateTimeField(_("synchronisé le"), auto_now=True)
    # Touched on every page that lists the record, changed or not: a full sync marks as deleted
    # what it did not see.
    seen_at = models.DateTimeField(_("vu le"), null=True, blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"], name="%(app_label)s_%(class)s_unique_external"
            ),
        ]

    @staticmethod
    def hash_payload(payload) -> str:
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
