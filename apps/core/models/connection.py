import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.fields import EncryptedJSONField


class ConnectionQuerySet(models.QuerySet):
    """Says when rows change without post_save (the inbox's per-process copies of connections listen)."""

    def update(self, **kwargs):
        from apps.core.signals import connections_changed_in_bulk

        count = super().update(**kwargs)
        connections_changed_in_bulk.send(sender=self.model, fields=frozenset(kwargs))
        return count

    def bulk_create(self, objs, *args, **kwargs):
        from apps.core.signals import connections_changed_in_bulk

        created = super().bulk_create(objs, *args, **kwargs)
        connections_changed_in_bulk.send(sender=self.model, fields=None)
        return created


class Connection(models.Model):
    """One configured account of an outside system (an Invoice Ninja company, a Revolut business...)."""

    objects = ConnectionQuerySet.as_manager()

    class TokenStatus(models.TextChoices):
        NOT_APPLICABLE = "n/a", _("Sans OAuth")
        MISSING = "missing", _("Non connecté")
        OK = "ok", _("Connecté")
        RECONNECT_REQUIRED = "reconnect_required", _("Reconnexion requise")

    provider = models.CharField(_("système"), max_length=32, db_index=True)
    name = models.CharField(_("nom"), max_length=120)
    slug = models.SlugField(_("identifiant"), max_length=80, unique=True)
    base_url = models.URLField(_("URL de base de l'API"), max_length=500, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    # Non-secret, provider-specific configuration (client id, default account, registered webhook ids...).
    config = models.JSONField(_("configuration"), default=dict, blank=True)

    # Encrypted at rest; never rendered back, logged, or put in an exception message.
    secrets = EncryptedJSONField(_("secrets"), default=dict, blank=True)
    webhook_secrets = EncryptedJSONField(_("secrets de webhook"), default=list, blank=True)
    oauth_token = EncryptedJSONField(_("jeton OAuth"), default=dict, blank=True)
    token_status = models.CharField(
        _("état du jeton"), max_length=24, choices=TokenStatus.choices, default=TokenStatus.NOT_APPLICABLE
    )
    token_expires_at = models.DateTimeField(_("expiration du jeton"), null=True, blank=True)

    webhook_endpoint_id = models.UUIDField(_("identifiant du point de réception"), default=uuid.uuid4, unique=True)

    last_ok_at = models.DateTimeField(_("dernier succès"), null=True, blank=True)
    last_error_at = models.DateTimeField(_("dernière erreur le"), null=True, blank=True)
    last_error = models.CharField(_("dernière erreur"), max_length=500, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("échecs consécutifs"), default=0)
    circuit_open_until = models.DateTimeField(_("circuit ouvert jusqu'à"), null=True, blank=True)

    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("connexion")
        verbose_name_plural = _("connexions")
        ordering = ["provider", "name"]

    def __str__(self):
        return self.name  # the provider key ("invoiceninja") is not for people; the name says it

    @property
    def is_healthy(self) -> bool:
        if not self.is_active or self.token_status == self.TokenStatus.RECONNECT_REQUIRED:
            return False
        if self.circuit_open_until and self.circuit_open_until > timezone.now():
            return False
        return self.consecutive_failures < 3

    @property
    def health_label(self) -> str:
        if not self.is_active:
            return _("Désactivée")
        if self.token_status == self.TokenStatus.RECONNECT_REQUIRED:
            return _("Reconnexion requise")
        if self.circuit_open_until and self.circuit_open_until > timezone.now():
            return _("Indisponible (circuit ouvert)")
        if self.consecutive_failures:
            return _("Dégradée")
        if self.last_ok_at is None:
            return _("Jamais testée")
        return _("Opérationnelle")

    def webhook_path(self) -> str:
        return f"/hooks/{self.provider}/{self.webhook_endpoint_id}/"

    def webhook_url(self) -> str:
        return settings.PUBLIC_BASE_URL + self.webhook_path()

    def secret(self, key: str, default=None):
        return self.secrets.get(key, default)

    def record_success(self):
        now = timezone.now()
        Connection.objects.filter(pk=self.pk).update(
            last_ok_at=now, consecutive_failures=0, circuit_open_until=None
        )
        self.last_ok_at, self.consecutive_failures, self.circuit_open_until = now, 0, None

    def record_failure(self, message: str, *, open_circuit_for=None):
        now = timezone.now()
        self.consecutive_failures = models.F("consecutive_failures") + 1
        fields = {"last_error_at": now, "last_error": message[:500], "consecutive_failures": self.consecutive_failures}
        if open_circuit_for is not None:
            fields["circuit_open_until"] = now + open_circuit_for
        Connection.objects.filter(pk=self.pk).update(**fields)
        self.refresh_from_db(fields=["last_error_at", "last_error", "consecutive_failures", "circuit_open_until"])
