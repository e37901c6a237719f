"""State of the Revolut Business emulator (apps/revolut/sandbox.py): one emulated business per database.

Nothing here is used by the console itself; these tables only exist so the emulator survives restarts
and behaves like a bank (balances, transaction states, registered certificates and webhooks).
"""

import uuid

from django.db import models


class SandboxApp(models.Model):
    """A certificate uploaded in the emulated "Business API" settings, with its redirect URI and ClientID."""

    client_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=120, default="Hypervisual Console")
    certificate_pem = models.TextField()
    redirect_uri = models.URLField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "sandbox : application API"


class SandboxAuthCode(models.Model):
    code = models.CharField(max_length=80, unique=True)
    app = models.ForeignKey(SandboxApp, on_delete=models.CASCADE)
    redirect_uri = models.URLField(max_length=500)
    created_at = models.DateTimeField()
    used = models.BooleanField(default=False)


class SandboxGrant(models.Model):
    """One consent: its refresh token lives until revoked."""

    app = models.ForeignKey(SandboxApp, on_delete=models.CASCADE)
    refresh_token = models.CharField(max_length=80, unique=True)
    revoked = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)


class SandboxAccessToken(models.Model):
    grant = models.ForeignKey(SandboxGrant, on_delete=models.CASCADE, related_name="access_tokens")
    token = models.CharField(max_length=80, unique=True)
    expires_at = models.DateTimeField()
    # A refresh invalidates every earlier access token of the grant, even unexpired ones.
    revoked = models.BooleanField(default=False)


class SandboxAccount(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=120)
    currency = models.CharField(max_length=3)
    balance = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    state = models.CharField(max_length=12, default="active")
    public = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "currency"]


class SandboxCounterparty(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=200)
    profile_type = models.CharField(max_length=12, blank=True)
    revtag = models.CharField(max_length=64, blank=True)
    country = models.CharField(max_length=2, blank=True)
    state = models.CharField(max_length=12, default="created")
    # CounterpartyAccount objects as the API shows them (id, type, iban, bic, currency, ...).
    accounts = models.JSONField(default=list)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]


class SandboxTransaction(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    type = models.CharField(max_length=32)
    request_id = models.CharField(max_length=40, blank=True, db_index=True)
    state = models.CharField(max_length=12)
    reason_code = models.CharField(max_length=64, blank=True)
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE)
    counterparty = models.ForeignKey(SandboxCounterparty, null=True, blank=True, on_delete=models.SET_NULL)
    receiver_account_id = models.CharField(max_length=64, blank=True)
    # Signed amount in major units: negative leaves the account.
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=140, blank=True)
    balance_after = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    # When a pending external payment moves on by itself (None: only the simulation endpoint moves it).
    complete_after = models.DateTimeField(null=True, blank=True)
    leg_id = models.UUIDField(default=uuid.uuid4)

    class Meta:
        ordering = ["-created_at"]


class SandboxWebhook(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)
    # [{"secret": "wsk_...", "expires_at": iso or null}], newest first; at most 3 active.
    signing_secrets = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)


class SandboxWebhookDelivery(models.Model):
    """One event for one webhook: tried once, retried 3 more times, then listed by failed-events (21 days)."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    webhook = models.ForeignKey(SandboxWebhook, on_delete=models.CASCADE, related_name="deliveries")
    webhook_url = models.URLField(max_length=500)
    # The event envelope exactly as signed and sent ({"event", "timestamp", "data"}).
    body = models.TextField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due; also pushed ahead while an attempt is in flight, so one sender claims it.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_sent_date = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
