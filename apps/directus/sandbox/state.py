"""Tables of the Directus emulator (apps/directus/sandbox/). Never used outside the sandbox."""

import secrets

from django.db import models


def new_token() -> str:
    return secrets.token_urlsafe(24)


class SandboxDirectusProject(models.Model):
    """One emulated Directus instance: its Flow (Event Hook -> Webhook / Request URL) and its env settings."""

    name = models.CharField(max_length=120)
    # The Flow: where items.create/update/delete of `flow_collections` are sent, with which headers.
    flow_url = models.URLField(max_length=500, blank=True)
    flow_headers = models.JSONField(default=list, blank=True)  # [{"header": ..., "value": ...}]
    flow_collections = models.JSONField(default=list, blank=True)
    # Environment variables the Flow may read as {{$env.NAME}} (those named in FLOWS_ENV_ALLOW_LIST).
    flow_env = models.JSONField(default=dict, blank=True)
    # NOTES §4.2: 0.0.0.0 denies every local interface address, loopback included (the default).
    import_ip_deny_list = models.CharField(max_length=200, default="0.0.0.0,169.254.169.254")
    flow_log = models.JSONField(default=list, blank=True)  # last runs: {"at", "url", "status"|"error"}
    is_down = models.BooleanField(default=False)  # every API call answers 503, to rehearse an outage

    def __str__(self):
        return self.name


class SandboxDirectusUser(models.Model):
    project = models.ForeignKey(SandboxDirectusProject, on_delete=models.CASCADE, related_name="users")
    email = models.EmailField()
    first_name = models.CharField(max_length=60, blank=True)
    token = models.CharField(max_length=100, unique=True, default=new_token)
    is_admin = models.BooleanField(default=False)
    # collection -> ["create", "read", "update", "delete"]; ignored for admins.
    permissions = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return self.email

    def may(self, collection: str, action: str) -> bool:
        return self.is_admin or action in (self.permissions.get(collection) or [])


class SandboxDirectusCollection(models.Model):
    project = models.ForeignKey(SandboxDirectusProject, on_delete=models.CASCADE, related_name="collections")
    name = models.CharField(max_length=64)
    meta = models.JSONField(default=dict, blank=True)
    fields = models.JSONField(default=list, blank=True)  # field definitions as POSTed

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="directus_sandbox_collection")]

    def __str__(self):
        return self.name

    @property
    def primary_key(self) -> str:
        return next((f["field"] for f in self.fields if (f.get("schema") or {}).get("is_primary_key")), "id")

    def field(self, name: str) -> dict | None:
        return next((f for f in self.fields if f.get("field") == name), None)


class SandboxDirectusItem(models.Model):
    collection = models.ForeignKey(SandboxDirectusCollection, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=64)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["collection", "key"], name="directus_sandbox_item")]

    def __str__(self):
        return f"{self.collection.name}/{self.key}"
