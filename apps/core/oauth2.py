"""OAuth2 authorization code + refresh for any system: token storage and a single-flight refresh.

A system app supplies how to call its token endpoint (`refresh(refresh_token) -> token payload`) and how
to recognise a revoked refresh token (`is_revoked(exc)`); this module does the rest:

1. a connection marked "reconnexion requise" never reaches the vendor again (no retry storm);
2. only one process refreshes a connection at a time (a Redis lock), and after waiting for the lock
   the connection is re-read: if another worker refreshed meanwhile, its token is used as is;
3. the refresh token is kept when the answer carries none; a rotated one replaces it atomically;
4. a revoked refresh token turns the connection to "reconnexion requise" and raises ReconnectRequired.

apps/revolut/oauth.py predates this module and keeps its own copy (Revolut adds a JWT client assertion
and a request budget); new systems use this one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.http import ApiError, AuthenticationError, ClientError
from apps.core.models import Connection

logger = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
LOCK_TIMEOUT_SECONDS = 30


class ReconnectRequired(AuthenticationError):
    """The refresh token was refused (or is missing): a person must authorise the console again."""


def store_tokens(connection: Connection, payload: dict, *, keep_refresh_token: str = "",
                 default_lifetime: int = 3600) -> None:
    access_token = payload.get("access_token") if isinstance(payload, dict) else None
    refresh_token = (payload.get("refresh_token") if isinstance(payload, dict) else None) or keep_refresh_token
    if not access_token or not refresh_token:
        raise ClientError(_("Réponse du serveur d'autorisation incomplète : jeton manquant."))
    try:
        lifetime = int(payload.get("expires_in") or default_lifetime)
    except (TypeError, ValueError):
        lifetime = default_lifetime
    previous = connection.oauth_token if isinstance(connection.oauth_token, dict) else {}
    # When the refresh token was issued: kept while the same one is reused, so its expiry can be watched.
    issued_at = (previous.get("refresh_token_issued_at") if previous.get("refresh_token") == refresh_token
                 else None) or timezone.now().isoformat()
    connection.oauth_token = {"access_token": access_token, "refresh_token": refresh_token,
                              "token_type": payload.get("token_type", "bearer"),
                              "refresh_token_issued_at": issued_at}
    connection.token_expires_at = timezone.now() + timedelta(seconds=lifetime)
    connection.token_status = Connection.TokenStatus.OK
    connection.save(update_fields=["oauth_token", "token_expires_at", "token_status", "updated_at"])


def needs_refresh(connection: Connection, margin: timedelta = REFRESH_MARGIN) -> bool:
    expires_at = connection.token_expires_at
    return expires_at is None or expires_at - margin <= timezone.now()


def mark_reconnect_required(connection: Connection, message: str) -> ReconnectRequired:
    Connection.objects.filter(pk=connection.pk).update(
        token_status=Connection.TokenStatus.RECONNECT_REQUIRED, last_error=message[:500], last_error_at=timezone.now(),
    )
    connection.token_status = Connection.TokenStatus.RECONNECT_REQUIRED
    connection.last_error = message
    return ReconnectRequired(message)


def _lock(connection: Connection):
    client = redis.Redis.from_url(settings.REDIS_URL)
    return client.lock(f"oauth2:token-refresh:{connection.pk}", timeout=LOCK_TIMEOUT_SECONDS,
                       blocking_timeout=LOCK_TIMEOUT_SECONDS)


def ensure_fresh_token(connection: Connection, *, refresh: Callable[[str], dict],
                       is_revoked: Callable[[ApiError], bool], system: str,
                       rejected_token: str | None = None, margin: timedelta = REFRESH_MARGIN) -> None:
    """Make `connection.oauth_token` usable. `rejected_token`: the access token the vendor just refused (401)."""
    reconnect = _("Reconnexion à %(system)s requise.") % {"system": system}
    if connection.token_status == Connection.TokenStatus.RECONNECT_REQUIRED:
        raise ReconnectRequired(reconnect)
    if rejected_token is None and not needs_refresh(connection, margin):
        return
    with _lock(connection):
        connection.refresh_from_db(fields=["oauth_token", "token_expires_at", "token_status"])
        if connection.token_status == Connection.TokenStatus.RECONNECT_REQUIRED:
            raise ReconnectRequired(reconnect)
        current = connection.oauth_token.get("access_token")
        if rejected_token is not None and current and current != rejected_token:
            return  # another worker refreshed while we waited
        if rejected_token is None and not needs_refresh(connection, margin):
            return
        refresh_token = connection.oauth_token.get("refresh_token")
        if not refresh_token:
            raise mark_reconnect_required(connection, _("Aucun jeton de rafraîchissement : autorisez de nouveau "
                                                         "la console dans %(system)s.") % {"system": system})
        try:
            payload = refresh(refresh_token)
        except ApiError as exc:
            if is_revoked(exc):
                raise mark_reconnect_required(
                    connection, _("%(system)s a refusé le jeton de rafraîchissement : reconnexion requise.")
                    % {"system": system}) from exc
            raise
        with transaction.atomic():
            store_tokens(connection, payload, keep_refresh_token=refresh_token)
        logger.info("Jeton OAuth2 renouvelé pour la connexion %s", connection.pk)
