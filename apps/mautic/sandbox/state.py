"""Tables of the Mautic emulator (apps/mautic/sandbox/). Never used outside the sandbox.

One `SandboxInstance` holds the instance's API settings (NOTES §1, §2, §4.1: API and Basic auth off by
default in a real Mautic, queue mode, webhook batch size, rate limit); `SandboxObject` holds every entity
as the vendor serialises it (contacts, segments, emails, email stats, page hits, DNC entries, webhooks,
queued webhook events), its pk being the Mautic id; `SandboxToken` holds OAuth2 codes and tokens.
"""

from django.db import models


class SandboxInstance(models.Model):
    name = models.CharField(max_length=120, default="Mautic (sandbox)")
    api_enabled = models.BooleanField(default=True)
    basic_auth_enabled = models.BooleanField(default=True)
    username = models.CharField(max_length=80, default="admin")
    password = models.CharField(max_length=120, blank=True)
    oauth_client_id = models.CharField(max_length=120, blank=True)
    oauth_client_secret = models.CharField(max_length=120, blank=True)
    oauth_redirect_uri = models.CharField(max_length=500, blank=True)
    access_token_lifetime = models.PositiveIntegerField(default=3600)
    # `immediate_process` sends one event per request; `command_process` queues and sends batches.
    queue_mode = models.CharField(max_length=20, default="immediate_process")
    webhook_limit = models.PositiveSmallIntegerField(default=10)
    rate_limit = models.PositiveIntegerField(default=0)  # calls per hour, 0 = off

    class Meta:
        verbose_name = "instance sandbox Mautic"
        verbose_name_plural = "instances sandbox Mautic"

    def __str__(self):
        return self.name


class SandboxObject(models.Model):
    instance = models.ForeignKey(SandboxInstance, on_delete=models.CASCADE, related_name="objects_set")
    kind = models.CharField(max_length=20, db_index=True)
    data = models.JSONField(default=dict)
    date_added = models.DateTimeField()
    date_modified = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "objet sandbox Mautic"
        verbose_name_plural = "objets sandbox Mautic"
        ordering = ["id"]

    def __str__(self):
        return f"{self.kind} {self.pk}"


class SandboxToken(models.Model):
    class Kind(models.TextChoices):
        CODE = "code"
        ACCESS = "access"
        REFRESH = "refresh"

    instance = models.ForeignKey(SandboxInstance, on_delete=models.CASCADE, related_name="tokens")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=120, unique=True)
    expires_at = models.DateTimeField()
    revoked = models.BooleanField(default=False)

    class Meta:
        verbose_name = "jeton sandbox Mautic"
        verbose_name_plural = "jetons sandbox Mautic"
