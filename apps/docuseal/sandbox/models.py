"""State of the DocuSeal emulator (apps/docuseal/sandbox/): accounts, templates, submissions, deliveries.

Nothing here is used by the console itself; these tables exist so the emulator survives restarts and can
run in another process (the demo's sandbox server) on the same database.
"""

from django.db import models


class SandboxAccount(models.Model):
    """One DocuSeal account: its API key's user, its edition and its one webhook URL (Settings → Webhooks)."""

    class Edition(models.TextChoices):
        PRO = "pro", "Pro"
        OPEN_SOURCE = "open_source", "Open source"

    api_key = models.CharField(max_length=80, unique=True)
    first_name = models.CharField(max_length=80, default="Camille")
    last_name = models.CharField(max_length=80, default="Durand")
    email = models.EmailField(default="camille.durand@example.test")
    edition = models.CharField(max_length=12, choices=Edition.choices, default=Edition.PRO)
    webhook_url = models.URLField(max_length=500, blank=True)
    webhook_events = models.JSONField(default=list, blank=True)
    hmac_secret = models.CharField(max_length=80, blank=True)  # "whsec_…", the HMAC tab
    secret_header_name = models.CharField(max_length=80, blank=True)  # the Secret tab
    secret_header_value = models.CharField(max_length=200, blank=True)
    # Faults to simulate, read-only at download time (the console may hold a write lock meanwhile):
    # file URLs issued before this moment are dead (as after 40 minutes), and all downloads answer 500.
    links_valid_from = models.DateTimeField(null=True, blank=True)
    downloads_down = models.BooleanField(default=False)

    class Meta:
        verbose_name = "sandbox DocuSeal : compte"


class SandboxTemplate(models.Model):
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=200)
    slug = models.CharField(max_length=40, unique=True)
    roles = models.JSONField(default=list)  # [{"name", "uuid"}]
    fields = models.JSONField(default=list)  # [{"uuid", "submitter_uuid", "name", "type", "required"}]
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class SandboxSubmission(models.Model):
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="submissions")
    template = models.ForeignKey(SandboxTemplate, null=True, blank=True, on_delete=models.SET_NULL)
    name = models.CharField(max_length=200, blank=True)
    slug = models.CharField(max_length=40, unique=True)
    source = models.CharField(max_length=10, default="api")
    submitters_order = models.CharField(max_length=10, default="preserved")
    documents = models.JSONField(default=list)  # [{"name", "pdf_b64"}] as uploaded or generated
    expire_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    expired_sent = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class SandboxSubmitter(models.Model):
    submission = models.ForeignKey(SandboxSubmission, on_delete=models.CASCADE, related_name="submitters")
    uuid = models.CharField(max_length=40, unique=True)
    slug = models.CharField(max_length=40, unique=True)
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=120, default="First Party")
    position = models.PositiveSmallIntegerField(default=0)
    external_id = models.CharField(max_length=120, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    values = models.JSONField(default=dict, blank=True)
    send_email = models.BooleanField(default=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]


class SandboxDelivery(models.Model):
    """One webhook event for the account's URL and its attempts (DocuSeal's WebhookEvent + WebhookAttempt)."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=40)
    url = models.URLField(max_length=500)
    body = models.TextField()
    signed = models.BooleanField(default=True)  # False for the settings page's test delivery
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status = models.IntegerField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
