"""Tables of the Invoice Ninja emulator (apps/invoiceninja/sandbox.py). Never used outside the sandbox."""

import secrets
import string

from django.db import models

ID_ALPHABET = string.ascii_letters + string.digits


def hashed_id() -> str:
    """Opaque 10-character ids, like the vendor's Hashids (never numeric, never sequential)."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(10))


class SandboxAccount(models.Model):
    """One emulated company with its API token."""

    name = models.CharField(max_length=120)
    api_token = models.CharField(max_length=100, unique=True)
    # Duplicate-request guard: "<guard key>" -> epoch seconds of the last accepted request.
    guards = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "compte sandbox Invoice Ninja"
        verbose_name_plural = "comptes sandbox Invoice Ninja"

    def __str__(self):
        return self.name


class SandboxRecord(models.Model):
    """One emulated entity (client, quote, invoice, payment, webhook) as the vendor would serialise it."""

    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=20)
    hashed_id = models.CharField(max_length=16, default=hashed_id)
    data = models.JSONField(default=dict)
    created_at = models.PositiveBigIntegerField(default=0)
    updated_at = models.PositiveBigIntegerField(default=0)
    archived_at = models.PositiveBigIntegerField(default=0)
    is_deleted = models.BooleanField(default=False)

    class Meta:
        verbose_name = "objet sandbox Invoice Ninja"
        verbose_name_plural = "objets sandbox Invoice Ninja"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "hashed_id"], name="in_sandbox_unique_id"),
        ]

    def __str__(self):
        return f"{self.kind} {self.hashed_id}"
