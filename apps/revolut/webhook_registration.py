"""Registering the console's endpoint with Revolut (webhooks v2) and keeping its signing secrets.

`connection.webhook_secrets` holds the active secrets, newest first (at most 3, as Revolut allows).
A rotation keeps the previous secret until the expiration period we asked for, then drops it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.models import Connection
from apps.revolut.client import RevolutClient
from apps.revolut.webhooks import SUBSCRIBED_EVENTS

MAX_ACTIVE_SECRETS = 3
DEFAULT_ROTATION_GRACE = "P1D"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def registration(connection: Connection) -> dict:
    return dict(connection.config.get("webhook") or {})


def register(connection: Connection) -> dict:
    """Create (or re-create, if the URL changed) the webhook for this connection's endpoint."""
    client = RevolutClient(connection)
    url = connection.webhook_url()
    current = registration(connection)
    if current.get("id") and current.get("url") == url:
        remote = {hook["id"]: hook for hook in client.list_webhooks()}
        if current["id"] in remote:
            return current
    if current.get("id"):
        try:
            client.delete_webhook(current["id"])
        except Exception:  # noqa: BLE001 - an already deleted webhook must not block the new one
            pass
    created = client.create_webhook(url, SUBSCRIBED_EVENTS)
    info = {"id": created["id"], "url": created.get("url", url), "events": created.get("events", SUBSCRIBED_EVENTS),
            "registered_at": timezone.now().isoformat(), "secret_expiry": {}}
    connection.webhook_secrets = [created["signing_secret"]]
    connection.config = {**connection.config, "webhook": info}
    connection.save(update_fields=["webhook_secrets", "config", "updated_at"])
    return info


def rotate(connection: Connection, expiration_period: str = DEFAULT_ROTATION_GRACE) -> None:
    info = registration(connection)
    if not info.get("id"):
        raise ValueError("Aucun webhook Revolut enregistré.")
    rotated = RevolutClient(connection).rotate_webhook_secret(info["id"], expiration_period)
    previous = [secret for secret in connection.webhook_secrets if secret]
    expiry = dict(info.get("secret_expiry") or {})
    grace = parse_duration(expiration_period)
    for secret in previous:
        expiry.setdefault(_digest(secret), (timezone.now() + grace).isoformat())
    connection.webhook_secrets = ([rotated["signing_secret"]] + previous)[:MAX_ACTIVE_SECRETS]
    connection.config = {**connection.config, "webhook": {**info, "secret_expiry": expiry}}
    connection.save(update_fields=["webhook_secrets", "config", "updated_at"])
    forget_expired_secrets(connection)


def forget_expired_secrets(connection: Connection) -> None:
    info = registration(connection)
    expiry = info.get("secret_expiry") or {}
    if not expiry:
        return
    now = timezone.now()
    expired = {digest for digest, moment in expiry.items() if (parse_datetime(moment) or now) <= now}
    if not expired:
        return
    connection.webhook_secrets = [s for s in connection.webhook_secrets if _digest(s) not in expired]
    info["secret_expiry"] = {d: m for d, m in expiry.items() if d not in expired}
    connection.config = {**connection.config, "webhook": info}
    connection.save(update_fields=["webhook_secrets", "config", "updated_at"])


def parse_duration(value: str) -> timedelta:
    """ISO 8601 durations as Revolut takes them (P1D, PT5H30M, P0D)."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", value or "")
    if not match:
        raise ValueError(f"Durée ISO 8601 invalide : {value!r}")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
