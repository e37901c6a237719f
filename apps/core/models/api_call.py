from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiCall(models.Model):
    """One outbound HTTP attempt to a vendor. Never holds a body or a secret: URL and error are redacted."""

    connection = models.ForeignKey(
        "core.Connection", on_delete=models.CASCADE, related_name="api_calls", verbose_name=_("connexion")
    )
    method = models.CharField(_("méthode"), max_length=8)
    url = models.CharField(_("URL (masquée)"), max_length=1000)
    status_code = models.PositiveSmallIntegerField(_("statut HTTP"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("durée (ms)"), default=0)
    attempt = models.PositiveSmallIntegerField(_("tentative"), default=1)
    request_id = models.CharField(_("identifiant de requête"), max_length=120, blank=True)
    error = models.CharField(_("erreur"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("date"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("appel sortant")
        verbose_name_plural = _("appels sortants")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["connection", "-created_at"], name="apicall_conn_created"),
            models.Index(fields=["status_code", "-created_at"], name="apicall_status_created"),
        ]

    def __str__(self):
        return f"{self.method} {self.url} → {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and self.status_code < 400
